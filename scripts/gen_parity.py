#!/usr/bin/python3
"""gen_parity.py: reference data for tests/test_resnet18.c, from Debian's torch 1.13 and
torchvision 0.14 (run with /usr/bin/python3).

Weights and inputs come from a counter-based generator both sides implement (splitmix64's
mixer applied to seed-derived counters, see tests/test_resnet18.c: fill()), so nothing
large is committed. For every tensor the reference file keeps its max-abs, sum, sum of
absolute values and up to K evenly spaced elements (all of a small tensor).

Cases (batch 2 at 64x64, 10 classes, cross-entropy; SGD lr 0.03 momentum 0.9 weight_decay
5e-3 nesterov, 3 steps), for the full model (A) and with conv1.*, bn1.*, layer1.* frozen (B):
  X.fwd.logits, X.fwd.loss       forward in train mode
  X.grad.<param>                 gradients after backward (numel -1: no grad)
  X.delta.<param>                weight after 3 steps minus initial weight
  X.buf.<buffer>                 running stats and num_batches_tracked after 3 steps
  X.eval.logits                  eval-mode logits after the 3 steps
At 224x224 (D: batch 2, 10 classes, full model, the sizes where the 3x3 layers run
Winograd F(4x4) and F(2x2) and im2col): D.fwd.logits, D.fwd.loss and the fc gradients of one
train-mode step, then D.eval.logits in eval mode (the running stats of that step); see
run_224 for why only these.
Tutorial smoke step (C): 1000 classes, 1x3x64x64 input in [0,1), labels in [0,1) of
shape (1,1000), loss = (prediction - labels).sum(), SGD lr 0.01 momentum 0.9, one step.

Usage: /usr/bin/python3 scripts/gen_parity.py [OUT]   (default tests/data/nn/parity.bin)
"""
import math
import os
import struct
import sys

import numpy as np
import torch
import torchvision

K = 256
LR = 0.03  # see check_conditioning()
MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def stream_base(seed, stream):
    return (seed * 0xD1B54A32D192ED03 + (stream + 1) * 0xA0761D6478BD642F) & MASK


def fill(seed, stream, n, lo, hi):
    """n float32 values uniform in [lo, hi): u_i = mix(base + i*GOLDEN) >> 11 * 2^-53."""
    with np.errstate(over="ignore"):
        i = np.arange(n, dtype=np.uint64)
        z = np.uint64(stream_base(seed, stream)) + i * np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) * (2.0 ** -53)
    return (lo + (hi - lo) * u).astype(np.float32)


def entry_range(name, shape):
    """Value range of state_dict entry `name` (mirrors range_for() in the C test)."""
    if name.endswith("num_batches_tracked"):
        return None
    if len(shape) == 4:
        b = math.sqrt(6.0 / (shape[0] * shape[2] * shape[3]))
        return (-b, b)
    if name.startswith("fc."):
        b = 1.0 / math.sqrt(512.0)
        return (-b, b)
    if name.endswith("running_mean"):
        return (-0.1, 0.1)
    if name.endswith("running_var"):
        return (0.5, 1.5)
    if name.endswith("weight"):
        return (0.5, 1.5)
    return (-0.2, 0.2)  # BN bias


def make_model(num_classes, seed):
    model = torchvision.models.resnet18(num_classes=num_classes)
    sd = model.state_dict()
    new = {}
    for k, (name, t) in enumerate(sd.items()):
        r = entry_range(name, tuple(t.shape))
        if r is None:
            new[name] = torch.zeros((), dtype=torch.int64)
        else:
            new[name] = torch.from_numpy(fill(seed, k, t.numel(), *r)).reshape(t.shape)
    model.load_state_dict(new)
    return model


class Writer:
    def __init__(self):
        self.parts = [b"TGPARIT1"]
        self.count = 0

    def put(self, name, t):
        nb = name.encode()
        if t is None:
            self.parts.append(struct.pack("<H", len(nb)) + nb + struct.pack("<q", -1))
            self.count += 1
            return
        a = t.detach().to(torch.float64).reshape(-1).numpy()
        n = a.size
        k = min(n, K)
        idx = (np.arange(k, dtype=np.int64) * n) // k
        vals = a[idx].astype(np.float32)
        self.parts.append(struct.pack("<H", len(nb)) + nb + struct.pack("<q", n))
        self.parts.append(struct.pack("<ddd", np.abs(a).max(), a.sum(), np.abs(a).sum()))
        self.parts.append(struct.pack("<I", k) + vals.tobytes())
        self.count += 1

    def bytes(self):
        return b"".join(self.parts)


def deltas_after_3_steps(freeze, dtype):
    model = make_model(10, 1).to(dtype)
    for name, p in model.named_parameters():
        if any(name.startswith(f) for f in freeze):
            p.requires_grad_(False)
    x = torch.from_numpy(fill(1, 1000, 2 * 3 * 64 * 64, -2.0, 2.0)).reshape(2, 3, 64, 64)
    x = x.to(dtype)
    y = torch.tensor([3, 7])
    init = {n: p.detach().clone() for n, p in model.named_parameters()}
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=LR, momentum=0.9, weight_decay=5e-3, nesterov=True)
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return {n: (p.detach() - init[n]).double() for n, p in model.named_parameters()}


def check_conditioning(freeze):
    """Batch-2 BatchNorm makes 3-step updates ill-conditioned for some settings (float32 and
    float64 runs of torch itself then differ by percents). Refuse to write reference data
    unless torch's float32 updates agree with float64 far inside the test's 1e-3."""
    d32 = deltas_after_3_steps(freeze, torch.float32)
    d64 = deltas_after_3_steps(freeze, torch.float64)
    worst = max((float((d32[n] - d64[n]).abs().max() / max(d64[n].abs().max(), 1e-30)), n)
                for n in d32 if d64[n].abs().max() > 0)
    print(f"conditioning {freeze}: worst float32 vs float64 update error {worst[0]:.2e} ({worst[1]})")
    assert worst[0] < 2e-4, "reference updates are ill-conditioned; change LR"


def run_case(w, tag, freeze):
    check_conditioning(freeze)
    torch.manual_seed(0)
    model = make_model(10, 1)
    for name, p in model.named_parameters():
        if any(name.startswith(f) for f in freeze):
            p.requires_grad_(False)
    x = torch.from_numpy(fill(1, 1000, 2 * 3 * 64 * 64, -2.0, 2.0)).reshape(2, 3, 64, 64)
    y = torch.tensor([3, 7])
    init = {n: p.detach().clone() for n, p in model.named_parameters()}
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=LR, momentum=0.9, weight_decay=5e-3, nesterov=True)
    model.train()
    for step in range(3):
        opt.zero_grad()
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        loss.backward()
        if step == 0:
            w.put(tag + ".fwd.logits", logits)
            w.put(tag + ".fwd.loss", loss)
            for n, p in model.named_parameters():
                w.put(tag + ".grad." + n, p.grad)
        opt.step()
    for n, p in model.named_parameters():
        w.put(tag + ".delta." + n, p.detach() - init[n])
    for n, b in model.named_buffers():
        w.put(tag + ".buf." + n, b.to(torch.float64))
    model.eval()
    with torch.no_grad():
        w.put(tag + ".eval.logits", model(x))


def forward_224(dtype=torch.float32, eps=0.0, seed=0):
    """Case D's quantities, from an input perturbed by eps (relative) if eps > 0."""
    model = make_model(10, 1).to(dtype)
    x = torch.from_numpy(fill(1, 3000, 2 * 3 * 224 * 224, -2.0, 2.0)).reshape(2, 3, 224, 224)
    x = x.to(dtype)
    if eps:
        g = torch.Generator().manual_seed(seed)
        x = x * (1 + eps * torch.randn(x.shape, generator=g, dtype=dtype))
    y = torch.tensor([3, 7])
    model.train()
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, y)
    loss.backward()
    out = {"D.fwd.logits": logits.detach(), "D.fwd.loss": loss.detach(),
           "D.grad.fc.weight": model.fc.weight.grad, "D.grad.fc.bias": model.fc.bias.grad}
    model.eval()
    with torch.no_grad():
        out["D.eval.logits"] = model(x)
    return out


def run_224(w):
    """Forward values and the head's gradients only: the other gradients of a batch-2
    224x224 step are not a fair test. A relative perturbation of 1e-6 of the input (float32
    rounding differences are of that order) moves torch's own float32 gradients of
    layer3-4 weights by up to 10% (a ReLU mask or a max-pool argmax flips where only 98
    positions are summed), while 1e-7 moves them by 1e-5. The values kept here are
    continuous in the input: refuse to write them unless torch agrees with itself under
    that perturbation far inside the test's tolerances."""
    ref = forward_224()
    for seed in (1, 2):
        pert = forward_224(torch.float32, 1e-6, seed)
        for k, v in ref.items():
            err = float((pert[k].double() - v.double()).abs().max() / v.double().abs().max())
            assert err < 2e-5, f"{k} moves by {err:.2e} under a 1e-6 input perturbation"
    for k, v in ref.items():
        w.put(k, v)


def run_tutorial(w):
    model = make_model(1000, 2)
    data = torch.from_numpy(fill(2, 2000, 3 * 64 * 64, 0.0, 1.0)).reshape(1, 3, 64, 64)
    labels = torch.from_numpy(fill(2, 2001, 1000, 0.0, 1.0)).reshape(1, 1000)
    init = {n: p.detach().clone() for n, p in model.named_parameters()}
    prediction = model(data)
    loss = (prediction - labels).sum()
    loss.backward()
    optim = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    optim.step()
    w.put("C.fwd.logits", prediction)
    w.put("C.fwd.loss", loss)
    for n, p in model.named_parameters():
        w.put("C.grad." + n, p.grad)
        w.put("C.delta." + n, p.detach() - init[n])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "nn", "parity.bin")
    torch.set_num_threads(2)
    w = Writer()
    run_case(w, "A", [])
    run_case(w, "B", ["conv1.", "bn1.", "layer1."])
    run_tutorial(w)
    run_224(w)
    data = w.bytes()
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, out)
    print(f"{out}: {w.count} records, {len(data)} bytes")


if __name__ == "__main__":
    main()
