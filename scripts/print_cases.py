#!/usr/bin/python3
"""Writes tests/data/print/cases.txt: tensors and how torch 1.13 prints them, for
tests/test_print.c (lib/core/print.c must print the same text).

Run with Debian's python3-torch: /usr/bin/python3 scripts/print_cases.py
Format, per case:
    case NAME
    shape D0 D1 ...            (empty for 0-dim)
    dtype f32|bool
    flag none|requires_grad|grad_fn=NAME
    values V0 V1 ...           (float32 values written with 9 significant digits)
    expect N                   (N lines of torch's output follow)
"""
import math
import os
import sys

import torch


def ints(n, mul, mod, off):
    return [(i * mul) % mod - off for i in range(n)]


def cases():
    f = torch.float32
    yield "ints", torch.tensor([36.0, 81.0]), None
    yield "neg_ints", torch.tensor([-12.0, 65.0]), "SubBackward0"
    yield "column", torch.tensor([[0.73], [0.63], [0.53]]), "rg"
    yield "scalar", torch.tensor(41.0), "MeanBackward0"
    yield "scalar_frac", torch.tensor(0.1), None
    yield "bool", torch.tensor([True, True]), None
    yield "bool_mixed", torch.tensor([[True, False], [False, True]]), None
    yield "zeros", torch.zeros(2, 3), None
    yield "zeros_rg", torch.zeros(2), "rg"
    yield "empty", torch.zeros(0), None
    yield "empty2", torch.zeros(2, 0), None
    yield "empty_bool", torch.zeros(0, dtype=torch.bool), None
    yield "col_ints", torch.tensor([[3.0], [12.0]]), "MmBackward0"
    yield "sci_small", torch.tensor([1e-5, 1.0]), None
    yield "sci_large", torch.tensor([1e9, 1.5]), None
    yield "sci_int", torch.tensor([1.0, 2000.0]), None
    yield "sci_scalar", torch.tensor(1e-5), None
    yield "nonfinite", torch.tensor([1.0, float("nan"), -float("inf")]), None
    yield "nonfinite_frac", torch.tensor([0.5, float("nan"), float("inf")]), None
    yield "all_nan", torch.tensor([float("nan"), float("nan")]), None
    yield "frac_neg", torch.tensor(ints(7, 37, 101, 50), dtype=f) / 7, None
    yield "wrap", torch.tensor(ints(40, 37, 101, 50), dtype=f) / 3, None
    yield "wrap_rg", torch.tensor(ints(30, 13, 97, 40), dtype=f) / 9, "rg"
    yield "wrap_ints", torch.arange(25, dtype=f) * 1000, None
    yield "suffix_break", torch.tensor(ints(9, 37, 101, 50), dtype=f) / 7, "AddBackward0"
    yield "mat", (torch.tensor(ints(12, 7, 23, 11), dtype=f) / 4).reshape(3, 4), None
    yield "wide_mat", (torch.tensor(ints(40, 7, 23, 11), dtype=f) / 3).reshape(2, 20), None
    yield "cube", (torch.arange(24, dtype=f) * 0.25 - 1).reshape(2, 3, 4), None
    yield "four_d", (torch.arange(16, dtype=f) - 8).reshape(2, 2, 2, 2), "rg"
    yield "sum_1d", torch.arange(1100, dtype=f), None
    yield "sum_2d", (torch.arange(2000, dtype=f) * 0.37).reshape(40, 50), None
    yield "sum_3d", (torch.tensor(ints(1200, 37, 1001, 500), dtype=f) / 16).reshape(10, 10, 12), None
    yield "sum_rows", (torch.arange(1010, dtype=f) / 8).reshape(505, 2), "rg"
    yield "bool_sum", (torch.arange(1200) % 3 == 0), None


def fmt(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return "%.9g" % v


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_path = os.path.join(root, "tests", "data", "print", "cases.txt")
    lines = []
    for name, t, flag in cases():
        t = t.contiguous()
        if flag == "rg":
            t.requires_grad_(True)
            text = str(t)
            flag_s = "requires_grad"
        elif flag:
            # a real non-leaf with the same values whose grad_fn has that name
            x = t.clone().requires_grad_(True)
            y = {"SubBackward0": lambda: x - 0.0, "MeanBackward0": lambda: x.mean(),
                 "MmBackward0": lambda: x @ torch.eye(x.shape[-1]),
                 "AddBackward0": lambda: x + 0.0}[flag]()
            assert y.grad_fn.name() == flag and torch.equal(y.detach(), t), name
            text = str(y)
            flag_s = "grad_fn=" + flag
        else:
            text = str(t)
            flag_s = "none"
        vals = t.detach().reshape(-1).tolist()
        lines.append("case " + name)
        lines.append("shape " + " ".join(str(d) for d in t.shape))
        lines.append("dtype " + ("bool" if t.dtype == torch.bool else "f32"))
        lines.append("flag " + flag_s)
        lines.append("values " + " ".join(fmt(float(v)) for v in vals))
        tl = text.split("\n")
        lines.append("expect %d" % len(tl))
        lines.extend(tl)
    with open(out_path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("wrote", out_path, file=sys.stderr)


if __name__ == "__main__":
    main()
