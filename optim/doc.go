// Package optim holds Bonsai's optimizers (SGD, AdamW) and learning-rate
// schedules, with PyTorch 1.13's semantics.
//
// # Optimizers
//
// An optimizer updates a fixed list of named parameters ([Param]) in place
// from their gradients. A parameter whose Var.Grad is nil is skipped, as
// PyTorch skips parameters whose .grad is None: neither its value nor its
// state changes (AdamW's step count included). The learning rate is set by
// the caller before each step, usually from a [Schedule]:
//
//	opt := optim.NewSGD(params, optim.SGDConfig{LR: 0.1, Momentum: 0.9, WeightDecay: 1e-4})
//	for step := 0; step < total; step++ {
//		opt.SetLR(sched.LR(step))
//		// zero the gradients, forward, backward ...
//		opt.Step()
//	}
//
// # Numerics
//
// [SGD.Step] and [AdamW.Step] perform the float32 operations of PyTorch
// 1.13's single-tensor (foreach=False) CPU implementations
// (torch/optim/sgd.py _single_tensor_sgd, torch/optim/adamw.py
// _single_tensor_adamw) element by element, in the same order and with the
// same roundings: Python-float hyper-parameters are computed in float64 and
// rounded to float32 where PyTorch passes them to a kernel, and the fused
// multiply-adds of PyTorch's AVX2 kernels (add with alpha, addcmul) are
// fused here too, while its separate multiplications and divisions (mul,
// div, addcdiv) are rounded separately. On an AVX2 machine the trajectories
// agree with PyTorch bit for bit in the committed golden cases
// (scripts/golden/gen_optim.py); a PyTorch built without FMA would differ
// in the last bit of some elements. The results do not depend on the
// platform or on GOMAXPROCS: no operation may be fused by the Go compiler
// (each product that is added is converted explicitly), and the updates run
// serially.
//
// # State
//
// Optimizer state is per parameter and addressed by name. [Optimizer.State]
// returns copies under the checkpoint keys "optim.<param name>.<state name>":
// SGD with momentum keeps "momentum_buffer"; AdamW keeps "exp_avg",
// "exp_avg_sq" (both of the parameter's shape) and "step", the number of
// updates the parameter has had, as a 0-d float32 tensor (as PyTorch keeps
// it). A parameter has no state until its first update. [Optimizer.LoadState]
// restores such a map strictly: keys outside "optim." are ignored (so a whole
// checkpoint may be passed), every "optim." key must name a parameter and a
// state of this optimizer with the right shape, and a parameter has either all
// of its state keys or none (none: it has not been updated yet). On error
// nothing is changed.
//
// # Pruning
//
// When a parameter's tensor changes shape (channels removed), its state must
// be sliced the same way by the caller before the next Step, through
// [Optimizer.ParamState], which returns the live map of that parameter's
// state tensors: replace each entry whose shape is the parameter's old shape
// by its sliced copy (momentum_buffer, exp_avg, exp_avg_sq) and leave the
// scalar "step" alone. Step panics, naming the parameter and the state, if a
// state tensor's shape does not match its parameter.
//
// # Schedules
//
// A [Schedule] gives the learning rate as a function of the number of
// optimizer steps already taken, so a resumed run needs only its step count.
// [MultiStep], [Cosine], [OneCycle] and [Warmup] follow PyTorch's MultiStepLR,
// CosineAnnealingLR, OneCycleLR and LinearLR chained with SequentialLR,
// stepped once per optimizer step; [ParseSchedule] reads the command-line
// syntax ("multistep:91,136", "warmup:5+cosine", ...).
package optim
