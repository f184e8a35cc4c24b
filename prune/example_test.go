package prune_test

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/prune"
)

// Trace a model, look at a group and remove two of its channels.
func Example() {
	m, err := zoo.New("resnet20")
	if err != nil {
		panic(err)
	}
	g, err := prune.Trace(m, 3, 32, 32)
	if err != nil {
		panic(err)
	}
	gr := g.Groups[2]
	fmt.Println(gr.Summary())
	fmt.Println(gr)
	if err := gr.Remove([]int{0, 5}, nil); err != nil { // pass an optimizer to slice its state too
		panic(err)
	}
	fmt.Println(gr.Summary())
	block := m.(*zoo.CIFARResNet).Layer1.Layers[0].(*zoo.BasicBlockA)
	fmt.Println(block.Conv1)
	fmt.Println(block.Conv2)
	// Output:
	// 16 channels
	// layer1.0.conv1 out ⇒ layer1.0.bn1 ⇒ layer1.0.conv2 in
	// 14 channels
	// Conv2d(16, 14, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
	// Conv2d(14, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
}
