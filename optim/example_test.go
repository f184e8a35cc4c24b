package optim_test

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/optim"
	"github.com/bonsai-dl/bonsai/tensor"
)

// A training loop sets the learning rate from the schedule before every
// step; a resumed run only needs the step count. (PyTorch's SGD with
// LinearLR and CosineAnnealingLR chained by SequentialLR prints the same.)
func Example() {
	w := autograd.NewParam(tensor.FromSlice([]float32{1, -2}, 2))
	opt := optim.NewSGD([]optim.Param{{Name: "w", Var: w}}, optim.SGDConfig{LR: 0.1, Momentum: 0.9})
	sched, err := optim.ParseSchedule("warmup:1+cosine", 0.1, 2, 4) // 2 steps per epoch, 4 epochs
	if err != nil {
		panic(err)
	}
	for step := 0; step < 8; step++ {
		opt.SetLR(sched.LR(step))
		w.Grad = w.Value.Clone() // the gradient of ½‖w‖²
		opt.Step()
		fmt.Printf("step %d  lr %.4f  w %.4f\n", step, opt.LR(), w.Value.Data)
	}
	fmt.Println(len(opt.State()), "state tensor:", opt.State()["optim.w.momentum_buffer"].Shape)
	// Output:
	// step 0  lr 0.0100  w [0.9900 -1.9800]
	// step 1  lr 0.0550  w [0.8860 -1.7721]
	// step 2  lr 0.1000  w [0.6273 -1.2547]
	// step 3  lr 0.0933  w [0.3516 -0.7032]
	// step 4  lr 0.0750  w [0.1257 -0.2514]
	// step 5  lr 0.0500  w [-0.0161 0.0322]
	// step 6  lr 0.0250  w [-0.0795 0.1591]
	// step 7  lr 0.0067  w [-0.0943 0.1886]
	// 1 state tensor: [2]
}

// The command line validates a user's flags before building the optimizer.
func ExampleSGDConfig_Validate() {
	c := optim.SGDConfig{LR: 0.1, Momentum: 0, Nesterov: true}
	fmt.Println(c.Validate())
	// Output:
	// optim: invalid SGD configuration: Nesterov momentum requires a momentum > 0 and zero dampening (have momentum 0, dampening 0)
}
