// Package tensor holds Bonsai's float32 N-d tensors and the numeric
// operations built on the kernels of package asm.
//
// A Tensor is dense, contiguous and row-major; image tensors are NCHW:
// x: [N, C, H, W]. Operations write into a destination the caller provides
// (usually taken from an Arena, so that a steady-state forward pass
// allocates nothing) and never keep references to their arguments.
//
// Shape mismatches between tensors passed by a program are programmer
// errors and panic with a message naming the operation and the shapes;
// checking input from users (files, flags) is the job of the callers.
package tensor
