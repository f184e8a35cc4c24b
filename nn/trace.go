package nn

import (
	"fmt"
	"reflect"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
)

// Trace is one forward pass of a model on a single zero image, recorded operation by
// operation, as the compiler, the exporter and the pruning graph read a model.
type Trace struct {
	// Ctx holds the recording: Ctx.Tape.Nodes are the operations in the order they ran,
	// each with the layer that recorded it (its Source), if any.
	Ctx *Ctx
	// Input is the traced input, [1, inShape...]; Output is the model's output.
	Input, Output *autograd.Var
	// Names maps each layer of the model to its state-dict path (nn.Walk's; a layer met
	// twice keeps its first path, the root has the empty path). Only layers held by
	// pointer are in it: a layer of a value type has no identity to look up.
	Names map[any]string
}

// TraceForward records one forward pass of m on a zero input of shape [1, inShape...]
// (for images, inShape is [C, H, W]). BatchNorm2d, Dropout and every other Trainable
// layer run in evaluation mode for the pass and get their modes back afterwards, so
// tracing changes nothing in m. A panic inside m's Forward (a shape m does not accept,
// an operation it does not support) is returned as an error naming m and the shape.
func TraceForward(m Module, inShape ...int) (*Trace, error) {
	for _, d := range inShape {
		if d <= 0 {
			return nil, fmt.Errorf("tracing %s: input shape %v: want positive dimensions", m, inShape)
		}
	}
	t := &Trace{Names: map[any]string{}}
	Walk(m, func(path string, l Module) {
		if reflect.ValueOf(l).Kind() != reflect.Pointer {
			return
		}
		if _, seen := t.Names[l]; !seen {
			t.Names[l] = path
		}
	})
	restore := EvalMode(m)
	defer restore()
	t.Ctx = NewCtx()
	t.Ctx.Record(true)
	t.Input = autograd.NewVar(tensor.New(append([]int{1}, inShape...)...))
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("tracing %s on an input of shape %v: %v", m, t.Input.Value.Shape, r)
			}
		}()
		t.Output = m.Forward(t.Ctx, t.Input)
	}()
	if err != nil {
		return nil, err
	}
	return t, nil
}
