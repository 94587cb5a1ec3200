#!/usr/bin/python3
"""Writes tests/data/ops/nn_ref.bin: inputs, outputs and gradients of the layer ops and
losses computed by PyTorch (Debian's python3-torch 1.13), read by tests/test_ops_nn.c.

Run with /usr/bin/python3 (the python3 on PATH lacks torch):
    /usr/bin/python3 scripts/gen_ops_ref.py [out_dir]

Format: b"TGREF1", u32 count, then per tensor: u32 name length, name (utf-8),
u32 ndim, i64 shape[ndim], f32 data (little-endian, row-major). Labels are stored as
floats. Each case "<case>" stores its inputs "<case>.x", ..., the output "<case>.out",
the upstream gradient "<case>.g" and the gradients "<case>.dx", ...
"""
import os
import struct
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(20240613)
torch.set_num_threads(1)
records = []


def put(name, t):
    records.append((name, t.detach().to(torch.float32).contiguous()))


def run(case, fn, inputs, needs_grad):
    """inputs: dict name -> tensor; needs_grad: names that get a gradient."""
    ts = {}
    for k, v in inputs.items():
        t = v.clone().detach().requires_grad_(k in needs_grad)
        ts[k] = t
        put(f"{case}.{k}", v)
    out = fn(**ts)
    put(f"{case}.out", out)
    g = torch.randn_like(out) if out.dim() > 0 else torch.tensor(1.0)
    put(f"{case}.g", g)
    out.backward(g)
    for k in needs_grad:
        put(f"{case}.d{k}", ts[k].grad)


def conv(case, n, c, h, w, oc, k, stride, pad):
    x = torch.randn(n, c, h, w)
    wt = torch.randn(oc, c, k, k) / (c * k * k) ** 0.5
    put(f"{case}.cfg", torch.tensor([stride, pad], dtype=torch.float32))
    run(case, lambda x, w: F.conv2d(x, w, None, stride, pad), {"x": x, "w": wt}, ["x", "w"])


conv("conv3x3s1p1", 2, 3, 9, 8, 4, 3, 1, 1)
conv("conv3x3s2p1", 2, 4, 9, 10, 5, 3, 2, 1)
conv("conv3x3s1p0", 1, 2, 6, 7, 3, 3, 1, 0)
conv("conv7x7s2p3", 2, 3, 11, 10, 4, 7, 2, 3)
conv("conv1x1s1p0", 3, 5, 4, 5, 6, 1, 1, 0)
conv("conv1x1s2p0", 2, 6, 7, 6, 4, 1, 2, 0)


def bn(case, training):
    n, c, h, w = 3, 4, 5, 5
    x = torch.randn(n, c, h, w) * 2 + 0.5
    weight = torch.rand(c) + 0.5
    bias = torch.randn(c)
    rm = torch.randn(c) * 0.1
    rv = torch.rand(c) + 0.5
    rm_t, rv_t = rm.clone(), rv.clone()
    put(f"{case}.rm", rm)
    put(f"{case}.rv", rv)
    run(case, lambda x, weight, bias: F.batch_norm(x, rm_t, rv_t, weight, bias, training, 0.1, 1e-5),
        {"x": x, "weight": weight, "bias": bias}, ["x", "weight", "bias"])
    put(f"{case}.rm_after", rm_t)
    put(f"{case}.rv_after", rv_t)


bn("bn_train", True)
bn("bn_eval", False)

run("relu", lambda x: F.relu(x), {"x": torch.randn(2, 3, 4, 5)}, ["x"])
run("maxpool", lambda x: F.max_pool2d(x, 3, 2, 1), {"x": torch.randn(2, 3, 9, 8)}, ["x"])
run("avgpool", lambda x: F.adaptive_avg_pool2d(x, (1, 1)), {"x": torch.randn(2, 3, 4, 5)}, ["x"])
run("linear", lambda x, w, b: F.linear(x, w, b),
    {"x": torch.randn(3, 5), "w": torch.randn(4, 5), "b": torch.randn(4)}, ["x", "w", "b"])

labels = torch.tensor([2, 0, 6, 3])
put("ce.labels", labels.float())
logits = torch.randn(4, 7) * 3
run("ce", lambda x: F.cross_entropy(x, labels), {"x": logits}, ["x"])
run("ce_ls", lambda x: F.cross_entropy(x, labels, label_smoothing=0.1), {"x": logits}, ["x"])
run("mse", lambda a, b: F.mse_loss(a, b),
    {"a": torch.randn(3, 4), "b": torch.randn(3, 4)}, ["a", "b"])

out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "ops")
os.makedirs(out_dir, exist_ok=True)
path = os.path.join(out_dir, "nn_ref.bin")
with open(path + ".tmp", "wb") as f:
    f.write(b"TGREF1")
    f.write(struct.pack("<I", len(records)))
    for name, t in records:
        nb = name.encode()
        f.write(struct.pack("<I", len(nb)))
        f.write(nb)
        f.write(struct.pack("<I", t.dim()))
        f.write(struct.pack(f"<{t.dim()}q", *t.shape))
        f.write(t.numpy().astype("<f4").tobytes())
os.replace(path + ".tmp", path)
print(f"wrote {len(records)} tensors to {path}")
