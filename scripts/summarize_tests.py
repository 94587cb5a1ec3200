#!/usr/bin/env python3
"""Sums the results of meson's test logs of the given build dirs into one line.

A Check suite prints "NN%: Checks: C, Failures: F, Errors: E"; its checks count one by one,
and so do the cases of a script test that ends with "N passed, M failed". Any other test
(the tutorial) counts as one. A test meson marks as failed
or timed out counts as failed even if its output says otherwise. With --fuzz FILE, each
line "TARGET ok" or "TARGET FAILED" of scripts/fuzz.sh's summary counts as one (a missing
file counts as one failure). Exit 1 if anything failed.
"""
import json, re, sys, os

passed = failed = 0
args = sys.argv[1:]
if len(args) >= 2 and args[0] == "--fuzz":
    fuzz_path, args = args[1], args[2:]
    if not os.path.exists(fuzz_path):
        print(f"FAILED: fuzz: no summary at {fuzz_path} (fuzz.sh did not run)")
        failed += 1
    else:
        lines = [l.split() for l in open(fuzz_path) if l.strip()]
        if not lines:
            print(f"FAILED: fuzz: {fuzz_path} is empty")
            failed += 1
        for name, verdict in ((l[0], l[-1]) for l in lines):
            if verdict == "ok":
                passed += 1
            else:
                print(f"FAILED: fuzz: {name}")
                failed += 1
check_re = re.compile(r"(\d+)%: Checks: (\d+), Failures: (\d+), Errors: (\d+)")
plain_re = re.compile(r"^(\d+) passed, (\d+) failed", re.M)
for d in args:
    path = os.path.join(d, "meson-logs", "testlog.json")
    if not os.path.exists(path):
        print(f"{d}: no test log (build failed?)")
        failed += 1
        continue
    for line in open(path):
        t = json.loads(line)
        ok = t.get("result") in ("OK", "EXPECTEDFAIL")
        out = t.get("stdout", "") or ""
        m = check_re.search(out)
        plain = plain_re.findall(out)
        if m:
            checks, fails, errs = int(m.group(2)), int(m.group(3)), int(m.group(4))
            p, f = checks - fails - errs, fails + errs
            if not ok and f == 0:
                f = 1
        elif plain:
            p, f = int(plain[-1][0]), int(plain[-1][1])
            if not ok and f == 0:
                f = 1
        else:
            p, f = (1, 0) if ok else (0, 1)
        if f:
            print(f"FAILED: {d}: {t.get('name')} ({t.get('result')})")
        passed += p
        failed += f
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
