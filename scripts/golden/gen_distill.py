#!/usr/bin/python3
"""Reference values of the knowledge-distillation loss for tensor/distill_test.go.

PyTorch 1.13 (Debian's python3-torch), float64:
    loss = T² · KL(softmax(teacher/T) ‖ softmax(logits/T)), batch mean,
and its gradient with respect to logits. Prints the Go literals the test embeds.
"""
import torch
import torch.nn.functional as F

torch.manual_seed(0)
n, k, T = 3, 5, 4.0
logits = (torch.randn(n, k, dtype=torch.float64) * 3).float().double().requires_grad_()
teacher = (torch.randn(n, k, dtype=torch.float64) * 3).float().double()
loss = F.kl_div(F.log_softmax(logits / T, dim=1), F.softmax(teacher / T, dim=1), reduction="batchmean") * T * T
loss.backward()
fmt = lambda t: ", ".join(repr(float(v)) for v in t.flatten())
print("logits:", fmt(logits.detach().float()))
print("teacher:", fmt(teacher.float()))
print("loss:", repr(float(loss)))
print("grad:", fmt(logits.grad))
