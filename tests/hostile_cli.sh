#!/usr/bin/env bash
# hostile_cli.sh TGFINETUNE [IMAGES_DIR]: the real binary against the hostile inputs of
# bad-inputs.md that apply at the CLI level. Every case asserts an exit code and a message
# fragment; an exit from a signal (>= 128, unless it is the asked-for 130) or sanitizer
# output is always a failure.
#  1. a training folder with broken images mixed in (empty, truncated PNG, JPEG cut inside
#     the scan, garbage, PNG named .jpg, 1x1, 100000x100000 IHDR, 65500x65500 SOF, symlink
#     loops, dot-files, mode 000 when not root): trains on the good ones, names each bad one,
#     counts them on stdout and in metrics.jsonl; above data.max_bad_fraction it stops;
#  2. bad configs (missing, unknown, wrong-typed, out-of-range keys; duplicate key, deep
#     nesting, bad JSON): exit 2 naming the key, nothing written;
#  3. hostile checkpoints for info, convert and train (pickle GLOBAL os.system and friends,
#     pickle VM abuse, truncated zip, empty, random bytes, safetensors with a huge header,
#     overlapping/holed/out-of-bounds offsets, shape overflow; NaN weights, missing and
#     unexpected keys, backbone shape mismatch): exit 1 with the reason, nothing executed,
#     no output file; a head of another class count is replaced with a note;
#  4. disk full while saving (a small tmpfs when mount works, and an LD_PRELOAD write()
#     shim failing with ENOSPC): error reported, no temporary file, previous file intact;
#  5. SIGINT mid-training: exit 130, checkpoint loads; kill -9 of the resumed run: the last
#     checkpoint still loads and --resume finishes the run;
#  6. predict/eval on a broken image;
#  7. special files (FIFO, socket, device) in a training folder and as every path argument:
#     skipped or refused by name, never opened for reading (each command under a timeout);
#  8. many classes: predict --topk 20000 of 20000 classes; eval's text output on 1000 classes
#     lists the most frequent confusions instead of the matrix, which --json has in full.
# Hostile files are made here (bash + python3's standard library, no PyTorch); a real JPEG
# to cut comes from IMAGES_DIR (default $TG_TEST_DATA/images). Ends with "N passed, M failed".
set -u
BIN=$(realpath "$1")
IMAGES=${2:-${TG_TEST_DATA:-$(dirname "$0")/data}/images}
npass=0
nfail=0
pass() { echo "ok: $*"; npass=$((npass + 1)); }
fail() { echo "FAIL: $*"; nfail=$((nfail + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
line_has() { grep -F -- "$2" "$1" | grep -qF -- "$3"; }  # file, fragment, fragment: one line has both

W=$(mktemp -d "${TMPDIR:-/tmp}/tg_hostile_XXXXXX")
MOUNTED=
cleanup() {
    [[ -n $MOUNTED ]] && umount "$MOUNTED" 2> /dev/null
    chmod -R u+rwx "$W" 2> /dev/null
    rm -rf "$W"
}
trap cleanup EXIT
cd "$W" || exit 1
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}

# sane: the output of the last run() has no sign of a crash or a sanitizer report
sane() {  # rc, allowed signal rc (or "")
    if [[ $1 -ge 128 && $1 != "${2:-}" ]]; then echo "  (killed by signal $(($1 - 128)))"; return 1; fi
    if grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:|SUMMARY: [A-Za-z]+Sanitizer' \
        out.txt err.txt; then
        echo "  (sanitizer report)"; grep -m5 -E 'Sanitizer|runtime error' err.txt; return 1
    fi
}
# expect NAME RC FRAGMENT -- CMD...: CMD exits RC and FRAGMENT (fixed string) is in its
# stderr or stdout ("" = no fragment asked)
expect() {
    local name=$1 want=$2 frag=$3; shift 4
    "$@" > out.txt 2> err.txt < /dev/null
    local rc=$?
    if [[ $rc -eq $want ]] && sane $rc "" && { [[ -z $frag ]] || grep -qF -- "$frag" out.txt err.txt; }; then
        pass "$name"
    else
        fail "$name (rc=$rc, want $want and \"$frag\"; stderr: $(head -c 600 err.txt))"
    fi
}

# ---------------------------------------------------------------- hostile files
python3 - "$IMAGES" <<'EOF' || { echo "FAIL: generating the hostile files"; echo "0 passed, 1 failed"; exit 1; }
import json, os, random, struct, sys, zipfile, zlib, math
images = sys.argv[1]
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
def png_bytes(w, h, raw):
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
rnd = random.Random(3)
def rand_png(path, w=32, h=32):
    raw = b"".join(b"\x00" + bytes(rnd.randrange(256) for _ in range(w * 3)) for _ in range(h))
    open(path, "wb").write(png_bytes(w, h, raw))

# 1. image folders: good/ (clean) and mixed/ (the same plus broken files)
for root in ("good", "mixed"):
    for cls in ("cat", "dog"):
        os.makedirs(f"{root}/{cls}", exist_ok=True)
        for i in range(6):
            rand_png(f"{root}/{cls}/{i}.png")
jpeg = open(os.path.join(images, "baseline420.jpg"), "rb").read()
open("mixed/cat/real.jpg", "wb").write(jpeg)                       # a good JPEG
open("mixed/cat/empty.png", "wb").close()                          # 0 bytes
open("mixed/cat/trunc40.png", "wb").write(open("mixed/cat/0.png", "rb").read()[:40])
sos = jpeg.index(b"\xff\xda")
open("mixed/cat/trunc_scan.jpg", "wb").write(jpeg[:sos + (len(jpeg) - sos) // 2])  # cut in the scan
open("mixed/dog/garbage.jpg", "wb").write(bytes(rnd.randrange(256) for _ in range(3000)))
open("mixed/dog/png_named.jpg", "wb").write(open("mixed/dog/0.png", "rb").read())  # PNG as .jpg
open("mixed/dog/one.png", "wb").write(png_bytes(1, 1, b"\x00\x10\x20\x30"))          # 1x1
open("mixed/dog/huge.png", "wb").write(png_bytes(100000, 100000, b"\x00" * 64))     # IHDR bomb
sof = jpeg.index(b"\xff\xc0")
huge = bytearray(jpeg); huge[sof + 5:sof + 9] = struct.pack(">HH", 65500, 65500)    # SOF bomb
open("mixed/dog/huge.jpg", "wb").write(bytes(huge))
os.makedirs("mixed/dog/.ipynb_checkpoints")
rand_png("mixed/dog/.ipynb_checkpoints/7.png")                    # hidden: not an image of dog
open("mixed/dog/.DS_Store", "wb").write(b"\x00\x00\x00\x01Bud1")
open("mixed/dog/notes.txt", "w").write("not an image\n")
open("bad1.png", "wb").write(open("mixed/cat/trunc40.png", "rb").read())

# 3. checkpoints. A resnet18 state_dict (constant weights, 10-class head) and variants.
def st_write(path, ts, meta=None, hook=None, raw=None):
    h = {}
    if meta: h["__metadata__"] = meta
    off = 0
    for k, (dt, shape, data) in ts.items():
        h[k] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
    if hook: hook(h)
    hb = raw if raw is not None else json.dumps(h).encode()
    hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb)
        for _, _, d in ts.values(): f.write(d)
def numel(s):
    n = 1
    for d in s: n *= d
    return n
def f32(shape, v): return ["F32", shape, struct.pack("<f", v) * numel(shape)]
def resnet18(classes):
    ts = {}
    def bn(p, c):
        ts[p + ".weight"] = f32([c], 1.0); ts[p + ".bias"] = f32([c], 0.0)
        ts[p + ".running_mean"] = f32([c], 0.0); ts[p + ".running_var"] = f32([c], 1.0)
        ts[p + ".num_batches_tracked"] = ["I64", [], struct.pack("<q", 0)]
    ts["conv1.weight"] = f32([64, 3, 7, 7], 0.01); bn("bn1", 64)
    cin = 64
    for li, cout in enumerate([64, 128, 256, 512], 1):
        for b in range(2):
            p = "layer%d.%d" % (li, b); i = cin if b == 0 else cout
            ts[p + ".conv1.weight"] = f32([cout, i, 3, 3], 0.01); bn(p + ".bn1", cout)
            ts[p + ".conv2.weight"] = f32([cout, cout, 3, 3], 0.01); bn(p + ".bn2", cout)
            if b == 0 and li > 1:
                ts[p + ".downsample.0.weight"] = f32([cout, cin, 1, 1], 0.01)
                bn(p + ".downsample.1", cout)
        cin = cout
    ts["fc.weight"] = f32([classes, 512], 0.01); ts["fc.bias"] = f32([classes], 0.0)
    return ts
os.makedirs("ck")
base = resnet18(10)
st_write("ck/fc10.safetensors", base, {"format": "pt"})
t = dict(base); w = t["layer2.0.conv1.weight"]
t["layer2.0.conv1.weight"] = ["F32", w[1], struct.pack("<3f", math.nan, math.inf, -math.inf) + w[2][12:]]
st_write("ck/nan.safetensors", t)
t = dict(base); del t["layer4.1.bn2.running_var"]
st_write("ck/missing.safetensors", t)
t = dict(base); t["layer5.0.conv1.weight"] = f32([2], 0.0)
st_write("ck/unexpected.safetensors", t)
t = dict(base); t["conv1.weight"] = f32([64, 3, 5, 5], 0.01)
st_write("ck/shape.safetensors", t)
small = {"a": f32([2], 1.0), "b": f32([2], 2.0)}
with open("ck/st_hugeheader.safetensors", "wb") as f:
    f.write(struct.pack("<Q", 1 << 62) + b'{"a":')
with open("ck/st_header_gt_file.safetensors", "wb") as f:
    f.write(struct.pack("<Q", 4096) + b'{"a": {"dtype":"F32","shape":[2],"data_offsets":[0,8]}}')
def overlap(h): h["b"]["data_offsets"] = [4, 12]
st_write("ck/st_overlap.safetensors", small, hook=overlap)
def hole(h): h["b"]["data_offsets"] = [12, 20]
st_write("ck/st_hole.safetensors", {"a": small["a"], "b": ["F32", [3], struct.pack("<3f", 1, 2, 3)]}, hook=hole)
def beyond(h): h["b"]["data_offsets"] = [8, 1 << 40]
st_write("ck/st_beyond.safetensors", small, hook=beyond)
def ovf(h): h["a"]["shape"] = [4194305, 4194305, 211106198978564]
st_write("ck/st_shape_overflow.safetensors", small, hook=ovf)
def rev(h): h["a"]["data_offsets"] = [8, 0]
st_write("ck/st_reversed.safetensors", small, hook=rev)
st_write("ck/st_notjson.safetensors", small, raw=b"{not json at all")
st_write("ck/st_dupkey.safetensors", {"a": small["a"]},
         raw=b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}')
st_write("ck/st_truncdata.safetensors", {"a": small["a"]},
         raw=b'{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}')
open("ck/st_short.safetensors", "wb").write(b"\x10\x00\x00")
hb = json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
hb += b" " * (128 - len(hb))   # valid, but its header length byte 0x80 looks like pickle's PROTO
open("ck/valid128.safetensors", "wb").write(struct.pack("<Q", 128) + hb + struct.pack("<2f", 1, 2))
open("ck/empty.pth", "wb").close()
open("ck/random.pth", "wb").write(b"\x42\x4f" + bytes(rnd.randrange(256) for _ in range(4094)))
def pth(path, pkl):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/version", "3\n")
cmd = b"touch " + os.path.abspath("PWNED").encode()
call = b"X" + struct.pack("<I", len(cmd)) + cmd + b"\x85R."
pth("ck/evil_os_system.pth", b"\x80\x02cos\nsystem\n" + call)
open("ck/evil_legacy.pth", "wb").write(b"\x80\x02cos\nsystem\n" + call)
pth("ck/evil_posix.pth", b"\x80\x02cposix\nsystem\n" + call)
pth("ck/evil_eval.pth", b"\x80\x02c__builtin__\neval\nX\x0b\x00\x00\x00__import__(\x85R.")
pth("ck/pk_setitem_list.pth", b"\x80\x02]K\x01K\x02s.")
pth("ck/pk_bad_memo.pth", b"\x80\x02h\xff.")
pth("ck/pk_huge_memo.pth", b"\x80\x02j\xff\xff\xff\x7f.")
pth("ck/pk_deep_mark.pth", b"\x80\x02" + b"(" * 1000000 + b"}.")
pth("ck/pk_underflow.pth", b"\x80\x02s.")
pth("ck/pk_no_stop.pth", b"\x80\x02}")
with zipfile.ZipFile("ck/zip_nopkl.pth", "w") as z: z.writestr("archive/version", "3\n")
# 8. many classes: resnet18 model files with 20000 and 1000 classes (a zero fc.weight, so the
# logits are the biases: distinct, 1e-3 apart, shuffled) and a 1000-class folder
def model_meta(classes):
    return {"format": "pt", "tgfinetune_format": "1", "arch": "resnet18",
            "classes": json.dumps(classes), "image_size": "32", "resize": "32",
            "mean": "[0.485, 0.456, 0.406]", "std": "[0.229, 0.224, 0.225]"}
for k in (20000, 1000):
    t = resnet18(k)
    t["fc.weight"] = f32([k, 512], 0.0)
    bias = [(i - k // 2) * 1e-3 for i in range(k)]
    rnd.shuffle(bias)
    t["fc.bias"] = ["F32", [k], struct.pack("<%df" % k, *bias)]
    st_write("ck/many%d.safetensors" % k, t, model_meta(["c%04d" % i for i in range(k)]))
    json.dump([struct.unpack("<f", struct.pack("<f", b))[0] for b in bias], open("ck/many%d.bias" % k, "w"))
one = open("good/cat/0.png", "rb").read()
for i in range(1000):
    os.makedirs("many/c%04d" % i)
    open("many/c%04d/0.png" % i, "wb").write(one)
EOF
[[ -e mixed/cat/real.jpg ]] || { fail "hostile files made"; echo "$npass passed, $nfail failed"; exit 1; }

ln -s . mixed/dog/self_loop                 # a symlink loop onto its own folder
mkdir -p mixed/dog/sub && ln -s .. mixed/dog/sub/parent_loop   # and onto its parent
cp mixed/cat/0.png mixed/dog/sub/deep.png   # a good image one level down
UNREADABLE=0
if [[ $(id -u) -ne 0 ]]; then   # root reads mode 000 anyway: the case only means something otherwise
    cp mixed/cat/1.png mixed/cat/unreadable.png && chmod 000 mixed/cat/unreadable.png && UNREADABLE=1
fi
# good: cat 6 PNG + real.jpg; dog 6 PNG + png_named.jpg + one.png + sub/deep.png
GOOD=16
BAD=$((6 + UNREADABLE))   # empty, trunc40, trunc_scan, garbage, huge.png, huge.jpg [, unreadable]

cfg() {  # output, train folder, extra top-level JSON members
    cat <<EOF
{"model": {"weights": ${WEIGHTS:-null}},
 "data": {"train": "$2", "image_size": 32, "resize": 32, "augment": false, "max_bad_fraction": ${MAXBAD:-0.5}},
 "train": {"epochs": ${EPOCHS:-1}, "batch_size": ${BATCH:-16}, "threads": 2, "checkpoint_every": ${CKEVERY:-0}},
 "optimizer": {"lr": 0.01, "momentum": 0.9},
 "output": "$1"${3:+, $3}}
EOF
}

# ---------------------------------------------------------------- 1. broken images
WEIGHTS='"ck/fc10.safetensors"' cfg runs/mixed mixed > mixed.json
expect "training on a folder with broken images exits 0" 0 "" -- "$BIN" train --config mixed.json
cp out.txt mixed.out; cp err.txt mixed.err
for f in cat/empty.png:"empty file" cat/trunc40.png:"truncated PNG" cat/trunc_scan.jpg:"bad JPEG" \
         dog/garbage.jpg:"not a PNG or JPEG" dog/huge.png:"exceeds the cap" \
         dog/huge.jpg:"exceeds the cap"; do
    check "names mixed/${f%%:*} with \"${f#*:}\"" line_has mixed.err "mixed/${f%%:*}: " "${f#*:}"
done
[[ $UNREADABLE -eq 1 ]] && check "names the mode-000 file: Permission denied" \
    grep -q "unreadable.png: .*Permission denied" mixed.err
check "good files are not reported (png_named.jpg, one.png, real.jpg)" \
    test -z "$(grep -E 'png_named.jpg|one.png|real.jpg|deep.png' mixed.err)"
check "each bad file is reported once (symlink loops not walked twice)" \
    test "$(grep -E 'mixed/(cat|dog)/.*: ' mixed.err | grep -cv 'symlink not followed')" -eq $BAD
check "each loop link is named once in a notice" \
    test "$(grep -cE 'mixed/dog/(self_loop|sub/parent_loop): symlink not followed' mixed.err)" -eq 2
check "the startup line counts $((GOOD + BAD)) images (loops terminate, dot-names and .txt not counted)" \
    grep -q "2 classes, $((GOOD + BAD)) training images" mixed.err
check "hidden names are skipped with a notice" grep -q "hidden names starting with '.'" mixed.err
check "the 10-class head of the weights is replaced with a note" \
    grep -q "10-class head is replaced by a new 2-class head" mixed.err
check "the epoch line counts $GOOD images, $BAD skipped" grep -q "| $GOOD images, $BAD skipped |" mixed.out
python3 - runs/mixed/metrics.jsonl $GOOD $BAD <<'EOF' && pass "metrics.jsonl: images $GOOD, skipped $BAD" || fail "metrics.jsonl: images $GOOD, skipped $BAD"
import json, sys
m = [json.loads(l) for l in open(sys.argv[1])]
assert len(m) == 1 and m[0]["images"] == int(sys.argv[2]) and m[0]["skipped"] == int(sys.argv[3]), m
EOF
check "model.safetensors written" test -s runs/mixed/model.safetensors
expect "the model's info lists its 2 classes" 0 '["cat","dog"]' -- "$BIN" info runs/mixed/model.safetensors

MAXBAD=0.1 cfg runs/toobad mixed > toobad.json
expect "above data.max_bad_fraction: exit 1 naming the fraction" 1 "more than the allowed fraction 0.1" \
    -- "$BIN" train --config toobad.json
check "  no model written" test ! -e runs/toobad/model.safetensors

# too many unreadable files in data.val: the epoch just trained is kept (checkpoint before the
# error), the error names the folder, and --resume validates and finishes as an uninterrupted run
valcfg() { cfg "$1" good | sed 's|"train": "good",|"train": "good", "val": "mixed",|'; }
MAXBAD=0.1 valcfg runs/badval > badval.json
expect "data.val above max_bad_fraction: exit 1" 1 "more than the allowed fraction 0.1" \
    -- "$BIN" train --config badval.json
check "  the error names the val folder" grep -q "/mixed: [0-9]* of $((GOOD + BAD)) images are unreadable" err.txt
check "  says the epoch is saved and how to continue" \
    grep -q "validation after epoch 1: .*runs/badval/checkpoint.safetensors (fix the folder, then continue with --resume)" err.txt
check "  the checkpoint is written, no model" test -s runs/badval/checkpoint.safetensors -a ! -e runs/badval/model.safetensors
MAXBAD=0.5 valcfg runs/badval > badval.json
expect "  --resume with a looser max_bad_fraction finishes" 0 "resuming" -- "$BIN" train --config badval.json --resume
MAXBAD=0.5 valcfg runs/goodval > goodval.json
"$BIN" train --config goodval.json > /dev/null 2>&1
check "  the resumed model is byte-identical to an uninterrupted run's" \
    cmp -s runs/goodval/model.safetensors runs/badval/model.safetensors
check "  one metrics line with val_acc" python3 -c "
import json; m = [json.loads(l) for l in open('runs/badval/metrics.jsonl')]
assert len(m) == 1 and m[0]['val_acc'] is not None, m"

# a last batch of one image at image_size 32 (layer4's output 1x1: BatchNorm cannot train on
# it): left out and said, not a failure after the whole epoch; resume still exact
BATCH=11 EPOCHS=2 cfg runs/one good > one.json             # 12 images: 11 + 1
expect "a last batch of one image at image_size 32: exit 0" 0 "" -- "$BIN" train --config one.json
cp out.txt one.out; cp err.txt one.err
check "  the epoch lines say 1 left out" test "$(grep -c '| 11 images, 1 left out (batch of one) |' one.out)" -eq 2
check "  a notice says why and what to do" \
    grep -q "epoch 1: 1 image was left out of training: .*use data.image_size >= 33" one.err
check "  model.safetensors written" test -s runs/one/model.safetensors
BATCH=11 EPOCHS=1 cfg runs/one2 good > one2.json
BATCH=11 EPOCHS=2 cfg runs/one2 good > one2b.json
"$BIN" train --config one2.json > /dev/null 2>&1 && "$BIN" train --config one2b.json --resume > /dev/null 2>&1
check "  1 epoch then --resume to 2: model byte-identical to the 2-epoch run" \
    cmp -s runs/one/model.safetensors runs/one2/model.safetensors
check "  and the final checkpoint too" cmp -s runs/one/checkpoint.safetensors runs/one2/checkpoint.safetensors

# ---------------------------------------------------------------- 2. bad configs
D='"data": {"train": "good", "image_size": 32}, "output": "runs/bad"'
badcfg() {  # name, fragment, JSON
    printf '%s\n' "$3" > bad.json
    expect "config: $1" 2 "$2" -- "$BIN" train --config bad.json
}
badcfg "missing data.train" 'missing key "data.train"' '{"output": "runs/bad"}'
badcfg "missing output" 'missing key "output"' '{"data": {"train": "good"}}'
badcfg "unknown top-level key" 'unknown key "lrr"; did you mean "optimizer.lr"?' "{$D, \"lrr\": 0.1}"
badcfg "unknown nested key" 'unknown key "optimizer.lrr"; did you mean "optimizer.lr"?' "{$D, \"optimizer\": {\"lrr\": 0.1}}"
badcfg "lr as a string" 'optimizer.lr must be a finite number > 0 (got "0.1")' "{$D, \"optimizer\": {\"lr\": \"0.1\"}}"
badcfg "lr -1" 'optimizer.lr must be a finite number > 0 (got -1)' "{$D, \"optimizer\": {\"lr\": -1}}"
badcfg "lr 0" 'optimizer.lr must be a finite number > 0 (got 0)' "{$D, \"optimizer\": {\"lr\": 0}}"
badcfg "lr 1e999" 'optimizer.lr must be a finite number > 0' "{$D, \"optimizer\": {\"lr\": 1e999}}"
badcfg "num_classes 0" 'model.num_classes must be null or an integer >= 2' "{$D, \"model\": {\"num_classes\": 0}}"
badcfg "num_classes 2.5" 'model.num_classes must be null or an integer >= 2 (the number of class folders) (got 2.5)' \
    "{$D, \"model\": {\"num_classes\": 2.5}}"
badcfg "num_classes 3e9" 'model.num_classes must be null or an integer >= 2 (the number of class folders) (got 3000000000)' \
    "{$D, \"model\": {\"num_classes\": 3e9}}"
badcfg "num_classes not the folder count" 'model.num_classes is 3 but' "{$D, \"model\": {\"num_classes\": 3}}"
badcfg "freeze pattern matching nothing lists real names" 'freeze pattern "layer9.*" matches no parameter; parameter names look like conv1.weight' \
    "{$D, \"freeze\": [\"layer9.*\"]}"
badcfg "freeze not an array" 'freeze must be an array' "{$D, \"freeze\": \"layer1.*\"}"
badcfg "duplicate key" 'duplicate key "optimizer.lr"' "{$D, \"optimizer\": {\"lr\": 0.1, \"lr\": 0.2}}"
badcfg "duplicate top-level key" 'duplicate key "data"' "{$D, \"data\": 5}"
badcfg "epochs 1.5" 'train.epochs must be an integer >= 1 (got 1.5)' "{$D, \"train\": {\"epochs\": 1.5}}"
badcfg "batch_size 1e300" 'train.batch_size must be an integer in [1, 65536]' "{$D, \"train\": {\"batch_size\": 1e300}}"
badcfg "seed -1" 'train.seed must be an integer in [0, 2^53] (got -1)' "{$D, \"train\": {\"seed\": -1}}"
badcfg "momentum 1" 'optimizer.momentum must be a number in [0, 1) (got 1)' "{$D, \"optimizer\": {\"momentum\": 1}}"
badcfg "nesterov without momentum" 'optimizer.nesterov needs optimizer.momentum > 0' "{$D, \"optimizer\": {\"nesterov\": true, \"momentum\": 0}}"
badcfg "image_size 0" 'data.image_size must be an integer in [1, 8192] (got 0)' '{"data": {"train": "good", "image_size": 0}, "output": "runs/bad"}'
badcfg "std with a zero" 'data.std must be an array of 3 finite numbers > 0' '{"data": {"train": "good", "std": [1, 0, 1]}, "output": "runs/bad"}'
badcfg "mean of 2 numbers" 'data.mean must be an array of 3 finite numbers' '{"data": {"train": "good", "mean": [1, 2]}, "output": "runs/bad"}'
badcfg "max_bad_fraction 1.5" 'data.max_bad_fraction must be a number in [0, 1] (got 1.5)' '{"data": {"train": "good", "max_bad_fraction": 1.5}, "output": "runs/bad"}'
badcfg "label_smoothing 1" 'loss.label_smoothing must be a number in [0, 1) (got 1)' "{$D, \"loss\": {\"label_smoothing\": 1}}"
badcfg "scheduler type typo" 'scheduler.type must be "constant", "step" or "cosine" (got "cosin")' "{$D, \"scheduler\": {\"type\": \"cosin\"}}"
badcfg "truncated JSON gives the position" 'bad.json: invalid JSON at line 2, column 1' "{$D,"
badcfg "trailing garbage gives the position" 'bad.json: invalid JSON at line 1, column' "{$D} trailing"
badcfg "a JSON array" 'the config must be a JSON object' '[]'
badcfg "an empty file" 'bad.json: invalid JSON' ''
badcfg "data.train that does not exist" 'data.train' '{"data": {"train": "nothere"}, "output": "runs/bad"}'
python3 -c "print('{\"model\": ' + '[' * 5000 + ']' * 5000 + ', \"data\": {\"train\": \"good\"}, \"output\": \"runs/bad\"}')" > deep.json
expect "config: nesting 5000 deep is refused with a position" 2 "deep.json: invalid JSON at line 1, column" \
    -- "$BIN" train --config deep.json
check "  config errors wrote nothing" test ! -e runs/bad
expect "config file that does not exist: exit 2 naming it" 2 "nothere.json" -- "$BIN" train --config nothere.json
expect "--threads -1: exit 2" 2 "" -- "$BIN" train --config mixed.json --threads -1
EPOCHS=1 cfg runs/allcores good > allcores.json     # train.threads 2 in the config
expect "--threads 0 is every core, over train.threads" 0 "parameters on $(getconf _NPROCESSORS_ONLN) threads" \
    -- "$BIN" train --config allcores.json --threads 0
expect "unknown option: exit 2" 2 "" -- "$BIN" train --config mixed.json --bogus

# ---------------------------------------------------------------- 3. hostile checkpoints
"$BIN" convert ck/fc10.safetensors -o ck/good.pth > /dev/null 2>&1
check "convert safetensors -> .pth (for the truncation case)" test -s ck/good.pth
head -c 100000 ck/good.pth > ck/trunc.pth
hostile() {  # file, fragment
    expect "info $1: exit 1, \"$2\"" 1 "$2" -- "$BIN" info "ck/$1"
    expect "convert $1: exit 1" 1 "$2" -- "$BIN" convert "ck/$1" -o ck/converted.safetensors
    check "  convert $1 left no output" test -z "$(ls ck | grep converted)"
}
hostile evil_os_system.pth "disallowed global os.system"
hostile evil_legacy.pth "disallowed global os.system"
hostile evil_posix.pth "disallowed global posix.system"
hostile evil_eval.pth "disallowed global __builtin__.eval"
check "the pickled os.system was never run" test ! -e PWNED
hostile pk_setitem_list.pth "SETITEM on a list"
hostile pk_bad_memo.pth "bad memo index"
hostile pk_huge_memo.pth "bad memo index"
hostile pk_deep_mark.pth "MARK depth exceeds"
hostile pk_underflow.pth "stack underflow"
hostile pk_no_stop.pth "no STOP opcode"
hostile zip_nopkl.pth "no 'archive/data.pkl' record"
hostile trunc.pth "incomplete zip"
hostile empty.pth "empty file"
hostile random.pth "unrecognized format"
hostile st_hugeheader.safetensors "exceeds the cap"
hostile st_header_gt_file.safetensors "exceeds the file size"
hostile st_overlap.safetensors "overlap"
hostile st_hole.safetensors "hole"
hostile st_beyond.safetensors "data_offsets [8, 1099511627776]"
hostile st_shape_overflow.safetensors "shape overflows"
hostile st_reversed.safetensors "begin <= end"
hostile st_notjson.safetensors "not a valid JSON object"
hostile st_dupkey.safetensors "duplicate tensor name 'a'"
hostile st_truncdata.safetensors "out of bounds"
hostile st_short.safetensors "truncated safetensors file"

expect "info on a valid safetensors whose header is 128 bytes (starts with 0x80)" 0 "1 tensors, 2 elements" \
    -- "$BIN" info ck/valid128.safetensors
expect "  and convert reads it" 0 "" -- "$BIN" convert ck/valid128.safetensors -o ck/valid128.pth

wtrain() {  # file, fragment: train with model.weights = ck/file refuses before training
    WEIGHTS="\"ck/$1\"" cfg "runs/w_$1" good > w.json
    expect "train with weights $1: exit 1, \"$2\"" 1 "$2" -- "$BIN" train --config w.json
    check "  no output for weights $1" test ! -e "runs/w_$1/model.safetensors"
}
wtrain nan.safetensors "layer2.0.conv1.weight: element 0 is not finite"
wtrain missing.safetensors "missing keys (1): layer4.1.bn2.running_var"
wtrain unexpected.safetensors "unexpected keys (1): layer5.0.conv1.weight"
wtrain shape.safetensors "size mismatch for conv1.weight: shape (64, 3, 5, 5) in the file, (64, 3, 7, 7) in the model"
wtrain evil_os_system.pth "disallowed global os.system"
wtrain trunc.pth "incomplete zip"
wtrain st_overlap.safetensors "overlap"
WEIGHTS='"ck/nothere.pth"' cfg runs/w_nothere good > w.json
expect "train with a missing weights file: exit 2 naming model.weights" 2 "model.weights is" -- "$BIN" train --config w.json
check "the pickled os.system was never run (train)" test ! -e PWNED

# ---------------------------------------------------------------- 4. disk full while saving
notmp() { ! ls -A "$1" | grep -q '\.tmp'; }
cp ck/fc10.safetensors old.safetensors
if mkdir -p full && mount -t tmpfs -o size=64m tmpfs full 2> /dev/null; then
    MOUNTED=$W/full
    cp old.safetensors full/model.safetensors   # 45 MB of 64: a second copy cannot fit
    expect "disk full (tmpfs): convert exits 1 with ENOSPC" 1 "No space left on device" \
        -- "$BIN" convert runs/mixed/model.safetensors -o full/model.safetensors
    check "  no temporary file left in the full directory" notmp full
    check "  the previous file is intact" cmp -s old.safetensors full/model.safetensors
    umount full && MOUNTED=
else
    echo "note: mount -t tmpfs not permitted: the tmpfs disk-full case is not run"
fi
if command -v cc > /dev/null; then
    cat > enospc.c <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
/* write() to regular files succeeds for FAIL_WRITE_AFTER bytes (one short write), then ENOSPC */
static long long left = -1;
ssize_t write(int fd, const void *buf, size_t n) {
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if (fd <= 2) return real(fd, buf, n);
    if (left < 0) left = atoll(getenv("FAIL_WRITE_AFTER") ? getenv("FAIL_WRITE_AFTER") : "0");
    if (left == 0) { errno = ENOSPC; return -1; }
    if ((long long)n > left) n = (size_t)left;
    ssize_t w = real(fd, buf, n);
    if (w > 0) left -= w;
    return w;
}
EOF
    if cc -shared -fPIC -O1 -o enospc.so enospc.c -ldl 2> /dev/null; then
        mkdir -p shim && cp old.safetensors shim/model.safetensors
        SHIM_ASAN=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0   # a sanitizer build
        expect "disk full (write shim): convert exits 1 with ENOSPC" 1 "No space left on device" \
            -- env FAIL_WRITE_AFTER=5000 LD_PRELOAD="$W/enospc.so" ASAN_OPTIONS="$SHIM_ASAN" "$BIN" convert runs/mixed/model.safetensors -o shim/model.safetensors
        check "  no temporary file left" notmp shim
        check "  the previous file is intact" cmp -s old.safetensors shim/model.safetensors
        expect "disk full (write shim) on the first byte: exit 1" 1 "No space left on device" \
            -- env FAIL_WRITE_AFTER=0 LD_PRELOAD="$W/enospc.so" ASAN_OPTIONS="$SHIM_ASAN" "$BIN" convert ck/fc10.safetensors -o shim/new.pth
        check "  no file and no temporary file" test -z "$(ls -A shim | grep -v '^model.safetensors$')"
    else
        echo "note: cc cannot build the LD_PRELOAD shim: the shim disk-full cases are not run"
    fi
fi

# ---------------------------------------------------------------- 5. SIGINT, kill -9, --resume
EPOCHS=2 BATCH=4 CKEVERY=1 cfg runs/cut good > cut.json    # 12 images: 3 steps per epoch
"$BIN" train --config cut.json > cut.out 2> cut.err &
pid=$!
for _ in $(seq 1200); do [[ -e runs/cut/checkpoint.safetensors ]] && break; sleep 0.05; done
kill -INT $pid
wait $pid
rc=$?
cp cut.out out.txt; cp cut.err err.txt
check "SIGINT mid-training exits 130 (rc=$rc)" test $rc -eq 130
check "  and nothing crashed" sane $rc 130
check "  says the checkpoint was saved" grep -q "checkpoint saved" cut.err
check "  checkpoint present, no model.safetensors" test -s runs/cut/checkpoint.safetensors -a ! -e runs/cut/model.safetensors
expect "  info reads the checkpoint" 0 "tgfinetune_checkpoint" -- "$BIN" info runs/cut/checkpoint.safetensors
check "  report.png drawn when interrupted" test -s runs/cut/report.png

# kill -9 the resumed run once it has written a newer checkpoint (maybe in the middle of the next)
cp runs/cut/checkpoint.safetensors ck_before
"$BIN" train --config cut.json --resume > k9.out 2> k9.err &
pid=$!
for _ in $(seq 1200); do cmp -s ck_before runs/cut/checkpoint.safetensors || break; sleep 0.05; done
sleep 0.$((RANDOM % 5))
kill -9 $pid
wait $pid 2> /dev/null
rc=$?
check "kill -9 during training (rc=$rc)" test $rc -eq 137 -o $rc -eq 0
expect "  the last checkpoint still loads (info)" 0 "tgfinetune_checkpoint" -- "$BIN" info runs/cut/checkpoint.safetensors
expect "--resume after kill -9 finishes the run" 0 "resuming" -- "$BIN" train --config cut.json --resume
check "  model.safetensors written" test -s runs/cut/model.safetensors
check "  one metrics line per epoch" test "$(wc -l < runs/cut/metrics.jsonl)" -eq 2
# steps.csv across SIGINT, kill -9 (maybe between its flush and the checkpoint) and two
# resumes: the header and steps 1..6 once each, in order
check "  steps.csv: one row per optimizer step, none twice" \
    test "$(cut -d, -f1 runs/cut/steps.csv | tr '\n' ' ')" = "step 1 2 3 4 5 6 "
# kill -9 right after steps.csv's flush, before the checkpoint's rename: the SIGINT's
# checkpoint beside all six rows and a torn seventh; --resume cuts to the checkpoint's step
# and trains the same steps again (exact resume: the same bytes)
mkdir -p runs/cut2
EPOCHS=2 BATCH=4 CKEVERY=1 cfg runs/cut2 good > cut2.json
cp ck_before runs/cut2/checkpoint.safetensors
cp runs/cut/steps.csv runs/cut2/steps.csv && printf '7,3,0.4' >> runs/cut2/steps.csv
expect "--resume with steps.csv ahead of the checkpoint" 0 "resuming" -- "$BIN" train --config cut2.json --resume
check "  steps.csv: the same six rows, none twice, no torn line" cmp -s runs/cut/steps.csv runs/cut2/steps.csv
check "  report.png drawn" test -s runs/cut2/report.png

# temporary files of saves killed before their rename (tg_atomic_open's NAME.tmp.XXXXXX) of the
# run's own outputs are removed at the start of train (fresh or --resume); nothing else is
mkdir -p runs/stale
STALE="checkpoint.safetensors.tmp.a1B2c3 model.safetensors.tmp.ZZZZZZ best.safetensors.tmp.000000 metrics.jsonl.tmp.q9Q9q9 config.json.tmp.xYz012"
KEEP="checkpoint.safetensors.tmp.abc checkpoint.safetensors.tmp.a1B2c3d notes.txt.tmp.a1B2c3 checkpoint.safetensors.tmp.a1-2c3 mine.tmp"
for f in $STALE $KEEP; do echo x > "runs/stale/$f"; done
EPOCHS=1 cfg runs/stale good > stale.json
expect "stale temporary files: train exits 0" 0 "left by an interrupted save" -- "$BIN" train --config stale.json
check "  each stale NAME.tmp.XXXXXX of the outputs is removed with a notice" \
    test "$(grep -c 'left by an interrupted save' err.txt)" -eq 5 -a -z "$(cd runs/stale && ls $STALE 2> /dev/null)"
check "  other files are kept" bash -c "cd runs/stale && ls $KEEP > /dev/null"
echo x > runs/stale/checkpoint.safetensors.tmp.KiLL99
expect "  and on --resume" 0 "runs/stale/checkpoint.safetensors.tmp.KiLL99, left by an interrupted save" \
    -- "$BIN" train --config stale.json --resume
check "  removed" test ! -e runs/stale/checkpoint.safetensors.tmp.KiLL99

# disk full while train writes its checkpoint: the finished run resumed for a third epoch on
# a tmpfs with room for its files and 20 MB more
if mkdir -p fullrun && mount -t tmpfs -o size=$(( ($(stat -c %s runs/cut/checkpoint.safetensors) + \
        $(stat -c %s runs/cut/model.safetensors)) / 1048576 + 20 ))m tmpfs fullrun 2> /dev/null; then
    MOUNTED=$W/fullrun
    mkdir fullrun/run && cp runs/cut/{checkpoint.safetensors,model.safetensors,metrics.jsonl,config.json} fullrun/run/
    EPOCHS=3 BATCH=4 CKEVERY=1 cfg run "$W/good" > fullrun/c.json
    expect "disk full while train saves its checkpoint: exit 1 with ENOSPC" 1 "No space left on device" \
        -- "$BIN" train --config fullrun/c.json --resume
    check "  no temporary file left" notmp fullrun/run
    check "  the previous checkpoint is intact" cmp -s runs/cut/checkpoint.safetensors fullrun/run/checkpoint.safetensors
    check "  the previous model is intact" cmp -s runs/cut/model.safetensors fullrun/run/model.safetensors
    umount fullrun && MOUNTED=
fi

# resume on a training folder that lost images: the checkpoint's position (4 or more of 12)
# is past its 2 images; a config error instead of silently skipping the rest of the epoch
mkdir -p fewer/cat fewer/dog runs/fewer && cp good/cat/0.png fewer/cat/ && cp good/dog/0.png fewer/dog/
cp ck_before runs/fewer/checkpoint.safetensors
EPOCHS=2 BATCH=4 cfg runs/fewer fewer > fewer.json
expect "--resume on a folder with fewer images than the checkpoint's position: exit 2" 2 \
    "the training folder changed since the run started" -- "$BIN" train --config fewer.json --resume
check "  no model.safetensors" test ! -e runs/fewer/model.safetensors

# the checkpoint records the training file list (class, relative path, size of each image):
# --resume on a folder whose files changed but whose count did not is refused, naming what
# differs; a copy of the same files elsewhere (new mtimes) resumes
EPOCHS=2 BATCH=4 cfg runs/chg changed > chg.json
resume_on() {  # prepares changed/ from good/ and runs/chg/ from the interrupted checkpoint
    rm -rf changed runs/chg && cp -r good changed && mkdir -p runs/chg && cp ck_before runs/chg/checkpoint.safetensors
}
resume_on && mv changed/cat/0.png changed/cat/0b.png
expect "--resume after a file was renamed (same count): exit 2" 2 \
    "files changed since the checkpoint: $W/changed has the same 12 images but their names or sizes differ" \
    -- "$BIN" train --config chg.json --resume
check "  says how to proceed" grep -qF "restore them, or start a new run without --resume" err.txt
check "  no model.safetensors, the checkpoint untouched" \
    eval 'test ! -e runs/chg/model.safetensors && cmp -s ck_before runs/chg/checkpoint.safetensors'
resume_on && printf 'x' >> changed/dog/2.png
expect "--resume after a file's size changed (same names): exit 2" 2 \
    "files changed since the checkpoint" -- "$BIN" train --config chg.json --resume
resume_on && cp good/cat/0.png changed/cat/extra.png
expect "--resume on a folder with one image more: exit 2 naming both counts" 2 \
    "the run started with 12 training images but $W/changed now has 13: the training folder changed" \
    -- "$BIN" train --config chg.json --resume
resume_on && mv changed/dog changed/dogs
expect "--resume after a class folder was renamed: exit 2" 2 \
    "resume needs the same class folders (restore them, or start a new run without --resume)" \
    -- "$BIN" train --config chg.json --resume
resume_on && sleep 1 && touch changed/cat/*.png
expect "--resume on a copy of the same files (new mtimes): exit 0" 0 "resuming" -- "$BIN" train --config chg.json --resume
check "  model.safetensors written" test -s runs/chg/model.safetensors
# a checkpoint written before the list was recorded: resumed, with a notice
resume_on && python3 - runs/chg/checkpoint.safetensors <<'EOF2'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", b[:8])
h = json.loads(b[8:8 + n])
del h["__metadata__"]["train_files"]
hb = json.dumps(h, separators=(",", ":")).encode()
hb += b" " * (-len(hb) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(hb)) + hb + b[8 + n:])
EOF2
expect "--resume from a checkpoint without the file list: exit 0" 0 \
    "records no training file list (written by an older tgfinetune): cannot check that $W/changed is unchanged" \
    -- "$BIN" train --config chg.json --resume
check "  and the run ends as the uninterrupted one" cmp -s runs/cut/model.safetensors runs/chg/model.safetensors

# the checkpoint also records the validation folder's list: a changed validation folder
# still resumes (training is unaffected) but says that best.safetensors was picked on the
# old set; an unchanged one resumes without that notice
rm -rf valset valrun && cp -r good valset
EPOCHS=1 BATCH=4 cfg valrun good | sed 's|"train": "good"|"train": "good", "val": "valset"|' > val1.json
sed 's/"epochs": 1/"epochs": 2/' val1.json > val2.json
expect "a run with a validation folder (1 epoch)" 0 "(best)" -- "$BIN" train --config val1.json
cp valrun/checkpoint.safetensors val_ck
expect "--resume with the same validation folder: no notice" 0 "resuming" -- "$BIN" train --config val2.json --resume
check "  says nothing about the validation folder" eval '! grep -q "validation folder changed" err.txt'
cp val_ck valrun/checkpoint.safetensors && rm valset/cat/0.png
expect "--resume after the validation folder lost an image: exit 0 with a notice" 0 \
    "the validation folder changed since the run started (12 images then, 11 now): best.safetensors was picked on the old set (best so far" \
    -- "$BIN" train --config val2.json --resume
check "  the run finishes (model.safetensors written)" test -s valrun/model.safetensors

# resume without a checkpoint, from a truncated one, from a file that is not a checkpoint
cfg runs/none good > none.json
expect "--resume without a checkpoint: exit 2" 2 "no checkpoint to resume from" -- "$BIN" train --config none.json --resume
mkdir -p runs/trunc && head -c 1000000 runs/cut/checkpoint.safetensors > runs/trunc/checkpoint.safetensors
cfg runs/trunc good > trunc.json
expect "--resume from a truncated checkpoint: exit 1" 1 "out of bounds" -- "$BIN" train --config trunc.json --resume
mkdir -p runs/notck && cp runs/cut/model.safetensors runs/notck/checkpoint.safetensors
cfg runs/notck good > notck.json
expect "--resume from a model file: exit 1" 1 "not a tgfinetune checkpoint" -- "$BIN" train --config notck.json --resume
mkdir -p runs/evilck && cp ck/evil_os_system.pth runs/evilck/checkpoint.safetensors
cfg runs/evilck good > evilck.json
expect "--resume from a hostile pickle: exit 1" 1 "disallowed global os.system" -- "$BIN" train --config evilck.json --resume
check "the pickled os.system was never run (resume)" test ! -e PWNED

# a diverging loss stops the run, saves no model
BATCH=4 cfg runs/nan good '"scheduler": {"type": "constant"}' | sed 's/"lr": 0.01/"lr": 1e30/' > nan.json
expect "lr 1e30: the diverging loss stops the run with exit 1" 1 "training diverged" -- "$BIN" train --config nan.json
check "  no model.safetensors" test ! -e runs/nan/model.safetensors

# class folders: an empty one, a single one
mkdir -p oneempty/cat oneempty/dog single/cat && cp good/cat/*.png oneempty/cat/ && cp good/cat/*.png single/cat/
cfg runs/x oneempty > x.json
expect "a class folder with no image: exit 1 naming it" 1 "class 'dog' has 0 images" -- "$BIN" train --config x.json
cfg runs/x single > x.json
expect "a single class folder: exit 1" 1 "need at least 2" -- "$BIN" train --config x.json

# ---------------------------------------------------------------- 6. predict / eval on bad images
expect "predict on a truncated PNG: exit 1 naming it" 1 "bad1.png" \
    -- "$BIN" predict bad1.png good/cat/0.png --model runs/cut/model.safetensors --json
python3 -c "import json,sys; a=json.load(open('out.txt')); assert [r['image'] for r in a]==['good/cat/0.png']" 2> /dev/null
check "  the good image is still classified" test $? -eq 0
expect "predict with a hostile model file: exit 1" 1 "disallowed global os.system" \
    -- "$BIN" predict good/cat/0.png --model ck/evil_os_system.pth
expect "predict with a model without class names: exit 1" 1 "" \
    -- "$BIN" predict good/cat/0.png --model ck/fc10.safetensors
expect "eval --json on the mixed folder names the bad files" 0 "mixed/dog/huge.png: " \
    -- "$BIN" eval --model runs/cut/model.safetensors --data mixed --json
python3 - out.txt $GOOD $BAD <<'EOF' && pass "  eval counts $GOOD images, $BAD skipped" || fail "  eval counts $GOOD images, $BAD skipped"
import json, sys
e = json.load(open(sys.argv[1]))
assert e["images"] == int(sys.argv[2]) and e["skipped"] == int(sys.argv[3]), e
assert sum(map(sum, e["confusion"])) == int(sys.argv[2]), e
EOF

# names that are not UTF-8 or hold control characters (Linux allows any bytes but '/' and NUL):
# escaped as \xNN in text output and messages, valid JSON from --json
mkdir -p "names/caf"$'\xe9' names/dog "names_val"$'\x1b'/dog "names_val"$'\x1b'/"caf"$'\xe9'
for i in 0 1 2; do
    cp good/cat/$i.png "names/caf"$'\xe9'/$i.png; cp good/dog/$i.png names/dog/$i.png
    cp good/cat/$i.png "names_val"$'\x1b'/"caf"$'\xe9'/$i.png; cp good/dog/$i.png "names_val"$'\x1b'/dog/$i.png
done
cp good/dog/3.png "names/dog/bad"$'\xff\x1b'"[31m.png"
EPOCHS=1 BATCH=4 cfg runs/names names | sed 's|"train": "names",|"train": "names", "val": "names_val\\u001b",|' > names.json
noraw() { ! LC_ALL=C grep -q $'[\x1b\x80-\xff]' "$1"; }   # no ESC, no byte >= 0x80
expect "train on names with bytes that are not UTF-8 and an ESC" 0 'validating on '"$W"'/names_val\x1b;' \
    -- "$BIN" train --config names.json
check "  no raw ESC or invalid byte on stderr" noraw err.txt
IMG="names/dog/bad"$'\xff\x1b'"[31m.png"
expect "predict --json on such a name" 0 "" -- "$BIN" predict "$IMG" --model runs/names/model.safetensors --json
check "  is valid JSON (strict UTF-8) with the name escaped" python3 -c '
import json; a = json.loads(open("out.txt", "rb").read().decode("utf-8"))
assert a[0]["image"] == "names/dog/bad\\xff\x1b[31m.png", a
assert sorted(p["class"] for p in a[0]["predictions"]) == ["caf\\xe9", "dog"], a'
expect "predict (text) on such a name" 0 'names/dog/bad\xff\x1b[31m.png' \
    -- "$BIN" predict "$IMG" --model runs/names/model.safetensors
check "  no raw ESC or invalid byte on stdout, the class escaped" eval 'noraw out.txt && grep -qF "caf\xe9" out.txt'
expect "eval --json with such class names" 0 "" -- "$BIN" eval --model runs/names/model.safetensors --data "names_val"$'\x1b' --json
check "  is valid JSON (strict UTF-8) with the names escaped" python3 -c '
import json; e = json.loads(open("out.txt", "rb").read().decode("utf-8"))
assert e["classes"] == ["caf\\xe9", "dog"] and sorted(e["per_class"]) == ["caf\\xe9", "dog"], e'
expect "eval (text) with such class names" 0 'caf\xe9' -- "$BIN" eval --model runs/names/model.safetensors --data "names_val"$'\x1b'
check "  no raw ESC or invalid byte on stdout" noraw out.txt
expect "eval on other classes: the difference is named, escaped" 1 'model "caf\xe9"' \
    -- "$BIN" eval --model runs/names/model.safetensors --data good
check "  no raw ESC or invalid byte on stderr" noraw err.txt

# ---------------------------------------------------------------- 7. special files
# A FIFO, a socket or a device named like an image or given as a path is never opened for
# reading (open(2) of a FIFO waits for a writer forever, SIGTERM's flag unseen): a training
# folder's are skipped and counted like unreadable files, a path argument is refused naming
# it. Each command runs under timeout -s KILL, so a hang is a failure (killed by signal 9).
TO="timeout -s KILL 120"
rm -rf special && cp -r good special && mkfifo special/cat/fifo.png && ln -s /dev/zero special/dog/zero.png
python3 -c "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" special/dog/sock.jpg
mkfifo fifo.pth fifo.png
EPOCHS=1 cfg runs/special special > special.json
expect "a FIFO, a socket and /dev/zero in a training folder: trains, exit 0" 0 "" -- $TO "$BIN" train --config special.json
check "  names the FIFO" line_has err.txt "special/cat/fifo.png: " "not a regular file (a FIFO)"
check "  names the socket" line_has err.txt "special/dog/sock.jpg: " "not a regular file (a socket)"
check "  names the device" line_has err.txt "special/dog/zero.png: " "not a regular file (a character device)"
check "  the epoch line counts 12 images, 3 skipped" grep -q "| 12 images, 3 skipped |" out.txt
check "  model.safetensors written" test -s runs/special/model.safetensors
expect "predict on a FIFO: exit 1 naming it" 1 "fifo.png: not a regular file (a FIFO)" \
    -- $TO "$BIN" predict fifo.png good/cat/0.png --model runs/special/model.safetensors
check "  the good image is still classified" grep -q "good/cat/0.png" out.txt
expect "predict on /dev/zero: exit 1 naming it" 1 "/dev/zero: not a regular file (a character device)" \
    -- $TO "$BIN" predict /dev/zero --model runs/special/model.safetensors
expect "predict --model FIFO: exit 1 naming it" 1 "fifo.pth: not a regular file (a FIFO)" \
    -- $TO "$BIN" predict good/cat/0.png --model fifo.pth
expect "eval --model FIFO: exit 1 naming it" 1 "fifo.pth: not a regular file (a FIFO)" \
    -- $TO "$BIN" eval --model fifo.pth --data good
expect "eval on the folder with special files: exit 0" 0 "special/cat/fifo.png: not a regular file (a FIFO)" \
    -- $TO "$BIN" eval --model runs/special/model.safetensors --data special --json
check "  counts 12 images, 3 skipped" python3 -c "
import json; e = json.load(open('out.txt')); assert e['images'] == 12 and e['skipped'] == 3, e"
expect "info on a FIFO: exit 1 naming it" 1 "fifo.pth: not a regular file (a FIFO)" -- $TO "$BIN" info fifo.pth
expect "info on a socket: exit 1 naming it" 1 "sock.jpg: not a regular file (a socket)" \
    -- $TO "$BIN" info special/dog/sock.jpg
expect "convert a FIFO: exit 1 naming it" 1 "fifo.pth: not a regular file (a FIFO)" \
    -- $TO "$BIN" convert fifo.pth -o special_out.safetensors
check "  no output" test ! -e special_out.safetensors
expect "convert -o onto a FIFO: exit 1, the FIFO is not replaced" 1 "fifo.pth: exists and is not a regular file (a FIFO)" \
    -- $TO "$BIN" convert runs/special/model.safetensors -o fifo.pth
check "  fifo.pth is still a FIFO, no temporary file" eval 'test -p fifo.pth && test -z "$(ls | grep "fifo.pth.tmp")"'
WEIGHTS='"fifo.pth"' cfg runs/fifow good > fifow.json
expect "model.weights a FIFO: exit 1 naming it" 1 "fifo.pth: not a regular file (a FIFO)" \
    -- $TO "$BIN" train --config fifow.json
check "  nothing written" test ! -e runs/fifow/model.safetensors

# ---------------------------------------------------------------- 8. many classes
# predict --topk K is a partial selection (the former K scans of the K taken cost K^2 N: hours
# for 20000 classes); eval prints the confusion matrix up to 50 classes and the most frequent
# confusions above that, the full matrix being in --json
expect "predict --topk 20000 on a 20000-class model: exit 0 within the timeout" 0 "" \
    -- $TO "$BIN" predict good/cat/0.png --model ck/many20000.safetensors --topk 20000 --json
check "  the 20000 classes in the biases' order" python3 -c "
import json; b = json.load(open('ck/many20000.bias')); a = json.load(open('out.txt'))
got = [p['index'] for p in a[0]['predictions']]
assert got == sorted(range(20000), key=lambda i: -b[i]), got[:10]"
expect "eval on 1000 classes: exit 0" 0 "eval --json has it in full" \
    -- $TO "$BIN" eval --model ck/many1000.safetensors --data many
check "  the text output stays small (no 1000 x 1000 matrix: $(wc -c < out.txt) bytes)" test "$(wc -c < out.txt)" -lt 200000
check "  lists the most frequent confusions" grep -q "most frequent confusions" out.txt
expect "eval --json on 1000 classes: exit 0" 0 "" -- $TO "$BIN" eval --model ck/many1000.safetensors --data many --json
check "  has the full 1000 x 1000 matrix, every image in the biases' argmax column" python3 -c "
import json; b = json.load(open('ck/many1000.bias')); e = json.load(open('out.txt')); m = e['confusion']
top = max(range(1000), key=lambda i: (b[i], -i))
assert len(m) == 1000 and all(len(r) == 1000 for r in m) and e['images'] == 1000
assert sum(map(sum, m)) == 1000 and sum(r[top] for r in m) == 1000"

echo "$npass passed, $nfail failed"
exit $((nfail > 0))
