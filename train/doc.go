// Package train runs Bonsai's training loop: mini-batch SGD (or AdamW) on
// CIFAR-10 with PyTorch's semantics, evaluation, progress display,
// metrics.jsonl, and checkpoints that a killed run resumes from
// bit-identically.
//
// A run directory holds checkpoint.safetensors (weights and buffers under
// their model names, optimizer state under "optim.<param>.<state>", and the
// run's configuration, epoch and step in the metadata), metrics.jsonl (one
// line per epoch) and, at the end, final.safetensors; while a run uses it,
// the lock file (see LockDir) keeps a second one out. Randomness is a pure
// function of the seed, the epoch and the position in the epoch (see
// data.Loader), so a checkpoint needs no random-generator state beyond them.
//
// Errors name Config fields (see ConfigError), not command-line flags.
package train
