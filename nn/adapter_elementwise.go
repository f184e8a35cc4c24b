package nn

// The parameter-free layers pass channels through (Stateless), except
// Flatten, which spreads each channel over the features of its map. The
// operations recorded without a layer (the functional Relu, Add, AddRelu,
// Reshape and GlobalAvgPool) follow OpCoupling.
func init() {
	RegisterAdapter[*ReLU](Stateless[*ReLU]{})
	RegisterAdapter[*ReLU6](Stateless[*ReLU6]{})
	RegisterAdapter[*Dropout](Stateless[*Dropout]{})
	RegisterAdapter[*MaxPool2d](Stateless[*MaxPool2d]{})
	RegisterAdapter[*AvgPool2d](Stateless[*AvgPool2d]{})
	RegisterAdapter[*AdaptiveAvgPool2d](Stateless[*AdaptiveAvgPool2d]{})
	RegisterAdapter[*Flatten](flattenAdapter{})
}

// flattenAdapter holds the rules of Flatten: [N, C, H, W] → [N, C·H·W]
// makes channel c the features c·H·W … (c+1)·H·W − 1.
type flattenAdapter struct{ Stateless[*Flatten] }

func (flattenAdapter) Axes(*Flatten) Axes { return Axes{Coupling: Spread} }
