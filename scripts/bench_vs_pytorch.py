#!/usr/bin/python3
"""bench_vs_pytorch.py: the same resnet18 training steps (forward, cross-entropy, backward,
SGD with momentum 0.9) in PyTorch (Debian's torch 1.13, at 1 and 2 threads, its best kept)
and in `tgfinetune bench`, alternating A B A B in one run, for the issue's cases.
Prints median step times, images/s, peak RSS and the ratios.

Usage: /usr/bin/python3 scripts/bench_vs_pytorch.py [--tgfinetune build/cmd/tgfinetune]
           [--rounds 2] [--steps 3] [--cases all|NAME,...]
Each measurement is a fresh process (its own peak RSS); timings are medians over --steps
steps after one warm-up step, and the best of the rounds is kept for each side. The last
column is the median over rounds of each round's ratio (PyTorch's better thread count in
that round against tgfinetune's run beside it), which a noisy minute moves less.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

CASES = [
    # name, batch, size, freeze patterns
    ("b1-64-full", 1, 64, []),
    ("b16-224-full", 16, 224, []),
    ("b16-224-frozen", 16, 224, ["*"]),
]

TORCH_CHILD = r"""
import json, resource, statistics, sys, time
import torch, torchvision
batch, size, steps, classes, threads = (int(a) for a in sys.argv[1:6])
freeze = sys.argv[6:]
torch.set_num_threads(threads)
torch.manual_seed(0)
model = torchvision.models.resnet18()
if freeze:
    import fnmatch
    for n, p in model.named_parameters():
        if any(fnmatch.fnmatchcase(n, f) for f in freeze):
            p.requires_grad_(False)
model.fc = torch.nn.Linear(512, classes)
model.train()
opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
x = torch.randn(batch, 3, size, size)
y = torch.randint(0, classes, (batch,))
times = []
for s in range(steps + 1):
    t0 = time.perf_counter()
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    if s > 0:
        times.append((time.perf_counter() - t0) * 1e3)
med = statistics.median(times)
print(json.dumps({"median_step_ms": med, "images_per_s": 1e3 * batch / med,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
"""


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def torch_run(batch, size, freeze, steps, classes, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    return run_json(["/usr/bin/python3", "-c", TORCH_CHILD, str(batch), str(size), str(steps),
                     str(classes), str(threads)] + freeze, env)


def tg_run(exe, batch, size, freeze, steps, classes):
    cmd = [exe, "bench", "--batch", str(batch), "--size", str(size), "--steps", str(steps),
           "--classes", str(classes), "--json"]
    for f in freeze:
        cmd += ["--freeze", f]
    return run_json(cmd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--tgfinetune", default=os.path.join(here, "..", "build", "cmd", "tgfinetune"))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--cases", default="all")
    args = ap.parse_args()
    if not os.access(args.tgfinetune, os.X_OK):
        sys.exit(f"{args.tgfinetune}: not an executable (build first, or pass --tgfinetune)")
    cases = CASES if args.cases == "all" else [c for c in CASES if c[0] in args.cases.split(",")]
    rows = []
    for name, batch, size, freeze in cases:
        best_pt, best_tg = None, None
        ratios = []
        for r in range(args.rounds):
            round_pt = None
            for threads in (1, 2):
                m = torch_run(batch, size, freeze, args.steps, args.classes, threads)
                m["threads"] = threads
                print(f"  {name} round {r + 1}: pytorch {threads} thread(s): "
                      f"{m['median_step_ms']:.1f} ms, {m['peak_rss_mb']:.0f} MB", flush=True)
                if best_pt is None or m["median_step_ms"] < best_pt["median_step_ms"]:
                    best_pt = m
                if round_pt is None or m["median_step_ms"] < round_pt:
                    round_pt = m["median_step_ms"]
            m = tg_run(args.tgfinetune, batch, size, freeze, args.steps, args.classes)
            print(f"  {name} round {r + 1}: tgfinetune: {m['median_step_ms']:.1f} ms, "
                  f"{m['peak_rss_mb']:.0f} MB", flush=True)
            if best_tg is None or m["median_step_ms"] < best_tg["median_step_ms"]:
                best_tg = m
            ratios.append(round_pt / m["median_step_ms"])
        rows.append((name, best_pt, best_tg, statistics.median(ratios), min(ratios), max(ratios)))
    print()
    print("| case | PyTorch 1.13 (best threads) | tgfinetune | speed ratio | PyTorch RSS | "
          "tgfinetune RSS | RSS ratio | per-round speed ratio, median (range) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, pt, tg, rmed, rlo, rhi in rows:
        print(f"| {name} | {pt['median_step_ms']:.1f} ms ({pt['images_per_s']:.2f} img/s, "
              f"{pt['threads']}t) | {tg['median_step_ms']:.1f} ms ({tg['images_per_s']:.2f} img/s) "
              f"| {pt['median_step_ms'] / tg['median_step_ms']:.2f}x | "
              f"{pt['peak_rss_mb']:.0f} MB | {tg['peak_rss_mb']:.0f} MB | "
              f"{tg['peak_rss_mb'] / pt['peak_rss_mb']:.2f} | {rmed:.2f}x ({rlo:.2f}-{rhi:.2f}) |")


if __name__ == "__main__":
    main()
