// Package infer compiles a model for inference: prepared once, called many times.
//
// Compile traces one evaluation-mode forward pass of any nn.Module — a zoo architecture,
// a pruned one, or a model built from nn layers — and turns it into a fixed list of steps:
//
//   - every BatchNorm2d that follows a convolution is folded into the convolution's weights
//     and bias (w' = w·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β, in float64, rounded once);
//   - a ReLU, a residual addition, or both, that follow a convolution are applied as the
//     convolution writes its output;
//   - each convolution's algorithm is chosen from its shape and the CPU's kernel path
//     (tensor.ChooseConvAlgo: never from timings, the batch size or GOMAXPROCS), and its
//     weights are transformed (Winograd) or packed (direct kernels) once;
//   - activation buffers are planned from the steps' lifetimes, so that a call allocates
//     nothing.
//
// One image runs step by step, each step's work split across the cores. A batch of a
// model whose images are small (the CIFAR networks) runs data-parallel: chunks of a few
// images, each run through every step by one goroutine with its own buffers, so that a
// chunk's activations stay in that core's cache (see lanes.go; BONSAI_LANE_CHUNK=N
// overrides the chunk size, for experiments).
//
// The prepared weights (a Model) are read-only and shared: any number of goroutines may
// run the same Model at once, each with its own Runner, which holds the buffers of up to
// its maximum batch size. A Runner is not safe for concurrent use.
//
// Results are deterministic: each image's output is bit-identical whatever the batch it
// is computed in and its batch-mates, and whatever GOMAXPROCS. They differ from the
// training-path forward pass (nn.Module.Forward) by the rounding of the folded BatchNorm
// and of the algorithms, within about 1e-5 of the outputs' magnitude.
//
// Typical use:
//
//	cm, err := infer.Compile(model, []int{3, 32, 32}, infer.Options{Batch: 128})
//	r := cm.NewRunner(128)
//	logits, err := r.Run(x) // x: [N, 3, 32, 32], N ≤ 128 → [N, classes], valid until the next Run
package infer
