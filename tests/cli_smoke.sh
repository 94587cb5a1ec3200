#!/usr/bin/env bash
# cli_smoke.sh TGFINETUNE: the tutorial's smoke case through the CLI, and the CLI's contract.
#  1. train for one step on a tiny folder of random 64x64 images, then predict on one of
#     them (text and --json), eval --json; files written, exit codes, JSON shapes;
#  2. SIGINT mid-run (exit 130, checkpoint saved), then --resume: the final weights are
#     byte-identical to an uninterrupted run's; SIGTERM exits 143;
#  3. bad configs and arguments exit 2 and name the key.
# Uses only bash and python3's standard library (no PyTorch).
set -u
BIN=$(realpath "$1")
SRC=$(realpath "$(dirname "$0")/..")
fails=0
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

W=$(mktemp -d "${TMPDIR:-/tmp}/tg_cli_XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1

# random 64x64 RGB PNGs: 2 classes x 4 images for train and for val
python3 - <<'EOF'
import os, random, struct, zlib
def png(path, w, h, rnd):
    raw = b"".join(b"\x00" + bytes(rnd.randrange(256) for _ in range(w * 3)) for _ in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
rnd = random.Random(1)
for split in ("train", "val"):
    for cls in ("cat", "dog"):
        os.makedirs(f"data/{split}/{cls}", exist_ok=True)
        for i in range(4):
            png(f"data/{split}/{cls}/{i}.png", 64, 64, rnd)
EOF

# ---- 1. one training step, predict, eval ----
cat > tiny.json <<'EOF'
{"model": {"weights": null, "num_classes": 2},
 "data": {"train": "data/train", "val": "data/val", "image_size": 64, "resize": 64},
 "train": {"epochs": 1, "batch_size": 8, "threads": 2},
 "optimizer": {"lr": 0.01, "momentum": 0.9},
 "output": "runs/tiny"}
EOF
"$BIN" train --config tiny.json > train.out 2> train.err
rc=$?
check "train exits 0 (rc=$rc)" test $rc -eq 0
for f in model.safetensors best.safetensors checkpoint.safetensors metrics.jsonl config.json; do
    check "train wrote $f" test -s "runs/tiny/$f"
done
check "no temporary files left" test -z "$(ls -A runs/tiny | grep -v -E '^(model|best|checkpoint)\.safetensors$|^metrics\.jsonl$|^config\.json$|^steps\.csv$|^report\.png$|^confusion\.json$')"
check "last_run recorded" grep -qx "$W/runs/tiny" .tgfinetune/last_run
check "random init said on stderr" grep -q "random initialisation" train.err
check "one line per epoch on stdout" grep -q "^epoch 1/1: train loss" train.out
python3 - runs/tiny <<'EOF' && pass "metrics.jsonl and config.json contents" || fail "metrics.jsonl and config.json contents"
import json, sys
d = sys.argv[1]
lines = open(d + "/metrics.jsonl").read().splitlines()
assert len(lines) == 1, lines
m = json.loads(lines[0])
keys = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "images", "skipped",
        "seconds", "images_per_s"]
assert sorted(m) == sorted(keys), m
assert m["epoch"] == 1 and m["images"] == 8 and m["skipped"] == 0 and m["lr"] == 0.01, m
assert 0 <= m["val_acc"] <= 1 and m["train_loss"] > 0, m
c = json.load(open(d + "/config.json"))
assert c["train"]["batch_size"] == 8 and c["data"]["train"].endswith("/data/train"), c
assert c["loss"] == {"type": "cross_entropy", "label_smoothing": 0}, c["loss"]
assert c["data"]["max_bad_fraction"] == 0.1 and c["data"]["exif_orientation"] is True, c
EOF

"$BIN" predict data/val/dog/0.png --model runs/tiny/model.safetensors --json > pred.json
rc=$?
check "predict --json exits 0 (rc=$rc)" test $rc -eq 0
python3 - pred.json <<'EOF' && pass "predict --json shape" || fail "predict --json shape"
import json, sys
a = json.load(open(sys.argv[1]))
assert isinstance(a, list) and len(a) == 1, a
r = a[0]
assert sorted(r) == ["image", "predictions"] and r["image"] == "data/val/dog/0.png", r
p = r["predictions"]
assert len(p) == 2, p  # --topk 5 clamped to the 2 classes
assert all(sorted(e) == ["class", "index", "probability"] for e in p), p
assert sorted(e["class"] for e in p) == ["cat", "dog"], p
assert {e["index"] for e in p} == {0, 1}
assert p[0]["probability"] >= p[1]["probability"]
assert abs(sum(e["probability"] for e in p) - 1) < 1e-6, p
EOF
# the same probabilities from PyTorch: torchvision's resnet18 with the file's weights and
# PIL + torchvision preprocessing from the file's metadata
"$BIN" predict data/val/cat/0.png data/train/dog/2.png --model runs/tiny/model.safetensors --json > pred2.json
check "predict --json matches PyTorch on the saved model" \
    /usr/bin/python3 "$SRC/scripts/check_predict_torch.py" runs/tiny/model.safetensors pred2.json
"$BIN" predict data/val/cat/1.png --topk 1 > pred.txt   # no --model: the last run
rc=$?
check "predict without --model uses the last run (rc=$rc)" test $rc -eq 0
check "predict text names the model" grep -q "runs/tiny/model.safetensors" pred.txt
check "predict --topk 1 prints one class" test "$(grep -c '%' pred.txt)" -eq 1
"$BIN" predict data/val/cat/none.png --model runs/tiny/model.safetensors > /dev/null 2> pred.err
rc=$?
check "predict on a missing image exits 1 naming it (rc=$rc)" test $rc -eq 1 -a -n "$(grep none.png pred.err)"
"$BIN" eval --model runs/tiny/model.safetensors --data data/val --json > eval.json
rc=$?
check "eval --json exits 0 (rc=$rc)" test $rc -eq 0
python3 - eval.json <<'EOF' && pass "eval --json shape" || fail "eval --json shape"
import json, sys
e = json.load(open(sys.argv[1]))
assert e["images"] == 8 and e["top5"] is None, e   # 2 classes: no top-5
assert 0 <= e["top1"] <= 1 and e["loss"] > 0, e
assert sorted(e["per_class"]) == ["cat", "dog"], e
assert sum(map(sum, e["confusion"])) == 8, e
correct = sum(e["confusion"][i][i] for i in range(2))
assert abs(correct / 8 - e["top1"]) < 1e-9, e
EOF

# ---- the run report: steps.csv, report.png, `report`, `eval --report` ----
pngsize() { python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); assert d[:8]==b"\x89PNG\r\n\x1a\n"; print("%dx%d" % struct.unpack(">II", d[16:24]))' "$1"; }
check "steps.csv: the header and one row for the one step" \
    test "$(cut -d, -f1,2 runs/tiny/steps.csv | tr '\n' ' ')" = "step,epoch 1,1 "
check "report.png is a 1600x1000 PNG" test "$(pngsize runs/tiny/report.png)" = 1600x1000
python3 - runs/tiny/confusion.json eval.json <<'EOF' && pass "confusion.json: the validation's matrix, as eval computes it" || fail "confusion.json: the validation's matrix, as eval computes it"
import json, sys
c, e = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert c["epoch"] == 1 and c["classes"] == ["cat", "dog"], c
assert c["confusion"] == e["confusion"], (c, e)   # the same model on the same folder
EOF
# the directory as the config's "output" names it: the title shows it as given
"$BIN" report "$W/runs/tiny" -o redrawn.png > report.out 2> report.err
rc=$?
check "report RUN_DIR -o FILE exits 0 (rc=$rc) and says where" test $rc -eq 0 -a "$(cat report.out)" = "wrote redrawn.png"
check "  the same picture as train drew from the same files" cmp -s runs/tiny/report.png redrawn.png
cp runs/tiny/report.png before.png
"$BIN" report "$W/runs/tiny" > /dev/null 2>&1
check "report RUN_DIR rewrites RUN_DIR/report.png" cmp -s before.png runs/tiny/report.png
"$BIN" report data > /dev/null 2> report.err
rc=$?
check "report on a directory that is not a run exits 1 naming it (rc=$rc)" \
    test $rc -eq 1 -a -n "$(grep "data is not a train run's output directory" report.err)"
"$BIN" report > /dev/null 2>&1
rc=$?
check "report without RUN_DIR exits 2 (rc=$rc)" test $rc -eq 2
"$BIN" eval --model runs/tiny/model.safetensors --data data/val --report ev.png > ev.out
rc=$?
check "eval --report exits 0 (rc=$rc), still prints its text" test $rc -eq 0 -a -n "$(grep '^top-1:' ev.out)"
check "  and draws a 1600x1000 PNG" test "$(pngsize ev.png)" = 1600x1000
"$BIN" eval --model runs/tiny/model.safetensors --data data/val --report nodir/ev.png > /dev/null 2> ev.err
rc=$?
check "eval --report into a missing directory exits 1 naming the file (rc=$rc)" \
    test $rc -eq 1 -a -n "$(grep 'nodir/ev.png' ev.err)"

# ---- 2. SIGINT, then --resume: identical to an uninterrupted run ----
resume_cfg() {  # output dir
    cat <<EOF
{"model": {"weights": null},
 "freeze": ["layer1.*"],
 "data": {"train": "data/train", "image_size": 64, "resize": 72, "augment": true},
 "train": {"epochs": 4, "batch_size": 2, "seed": 7, "threads": 2, "checkpoint_every": 1},
 "optimizer": {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0001, "nesterov": true},
 "output": "$1"}
EOF
}
resume_cfg runs/full > full.json
resume_cfg runs/cut > cut.json
"$BIN" train --config full.json > /dev/null 2>&1
check "uninterrupted run exits 0" test $? -eq 0
"$BIN" train --config cut.json > cut.out 2> cut.err &
pid=$!
for _ in $(seq 600); do [[ -e runs/cut/checkpoint.safetensors ]] && break; sleep 0.05; done
kill -INT $pid
wait $pid
rc=$?
check "SIGINT exits 130 (rc=$rc)" test $rc -eq 130
check "SIGINT says the checkpoint was saved" grep -q "checkpoint saved" cut.err
check "interrupted run wrote no model.safetensors" test ! -e runs/cut/model.safetensors
"$BIN" train --config cut.json --resume > resume.out 2> resume.err
rc=$?
check "--resume exits 0 (rc=$rc)" test $rc -eq 0
check "--resume says where it resumes" grep -q "resuming" resume.err
check "resumed weights are byte-identical to the uninterrupted run's" \
    cmp -s runs/full/model.safetensors runs/cut/model.safetensors
check "final checkpoints (weights, momentum, BN statistics, RNG, counters) are byte-identical" \
    cmp -s runs/full/checkpoint.safetensors runs/cut/checkpoint.safetensors
check "resumed run has one metrics line per epoch" test "$(wc -l < runs/cut/metrics.jsonl)" -eq 4

resume_cfg runs/term > term.json
"$BIN" train --config term.json > /dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do [[ -e runs/term/checkpoint.safetensors ]] && break; sleep 0.05; done
kill -TERM $pid
wait $pid
rc=$?
check "SIGTERM exits 143 (rc=$rc)" test $rc -eq 143

# ---- 3. usage and config errors: exit 2, key named ----
bad() {  # name, expected stderr fragment, json
    echo "$3" > bad.json
    "$BIN" train --config bad.json > /dev/null 2> bad.err
    local rc=$?
    if [[ $rc -eq 2 ]] && grep -qF -- "$2" bad.err; then pass "$1"; else
        fail "$1 (rc=$rc, stderr: $(cat bad.err))"; fi
}
D='"data": {"train": "data/train"}, "output": "runs/bad"'
bad "unknown key suggests the nearest" 'unknown key "optimizer.lrr"; did you mean "optimizer.lr"?' \
    "{$D, \"optimizer\": {\"lrr\": 0.1}}"
bad "negative lr names the rule" 'optimizer.lr must be a finite number > 0 (got -1)' \
    "{$D, \"optimizer\": {\"lr\": -1}}"
bad "string batch size" 'train.batch_size must be an integer in [1, 65536] (got "8")' \
    "{$D, \"train\": {\"batch_size\": \"8\"}}"
bad "bad JSON gives the position" 'bad.json: invalid JSON at line 2, column 1' "{$D,"
bad "freeze pattern matching nothing" 'freeze pattern "layer5.*" matches no parameter' \
    "{$D, \"freeze\": [\"layer5.*\"]}"
bad "missing train folder names the key" 'data.train is '"$W"'/nowhere: No such file or directory' \
    '{"data": {"train": "nowhere"}, "output": "runs/bad"}'
bad "num_classes mismatch" 'model.num_classes is 3 but' "{$D, \"model\": {\"num_classes\": 3}}"
"$BIN" train --config missing.json 2> bad.err
rc=$?
check "missing config exits 2 naming it (rc=$rc)" test $rc -eq 2 -a -n "$(grep missing.json bad.err)"
"$BIN" train 2> /dev/null
check "train without --config exits 2" test $? -eq 2
"$BIN" predict --topk 0 x.png 2> /dev/null
check "predict --topk 0 exits 2" test $? -eq 2
"$BIN" train --help | grep -q "usage: tgfinetune train"
check "train --help" test $? -eq 0
"$BIN" predict --help | grep -q "usage: tgfinetune predict"
check "predict --help" test $? -eq 0
"$BIN" eval --help | grep -q "usage: tgfinetune eval"
check "eval --help" test $? -eq 0

echo "$fails failed"
exit $((fails > 0))
