#!/usr/bin/env bash
# cli_pth_chain.sh TGFINETUNE: issue 4's whole chain with Debian's torch.
#  1. torch.save a resnet18 state_dict (zip format, and legacy format) with 1000 classes;
#  2. `tgfinetune train` starts from that .pth (head swapped for 2 classes, backbone frozen
#     except layer4) for a few steps on a tiny folder;
#  3. `tgfinetune convert model.safetensors -o model.pth`;
#  4. torch.load(model.pth, weights_only=True) loads into torchvision's resnet18 and gives
#     the probabilities `tgfinetune predict --json` printed, and the frozen tensors are
#     bit-identical to the ones torch saved while layer4's convs changed.
# Prints "N passed, M failed"; exits 1 if anything failed.
set -u
BIN=$(realpath "$1")
PY=/usr/bin/python3
passed=0
failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
W=$(mktemp -d "${TMPDIR:-/tmp}/tg_chain_XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1

cat > make.py <<'PYEOF'
import os, random, torch, torchvision
from PIL import Image
torch.manual_seed(0)
sd = torchvision.models.resnet18().state_dict()
torch.save(sd, "start_zip.pth")
torch.save(sd, "start_legacy.pth", _use_new_zipfile_serialization=False)
rnd = random.Random(3)
for cls, base in (("ants", 40), ("bees", 200)):
    os.makedirs(f"data/{cls}", exist_ok=True)
    for i in range(6):
        px = bytes(min(255, max(0, base + rnd.randrange(-40, 40))) for _ in range(48 * 40 * 3))
        Image.frombytes("RGB", (48, 40), px).save(f"data/{cls}/{i}.png")
PYEOF

cat > check.py <<'PYEOF'
import json, sys, torch, torchvision
from torchvision import transforms as T
from PIL import Image
fmt = sys.argv[1]
sd = torch.load(f"runs/{fmt}/model.pth", weights_only=True)
start = torch.load(f"start_{fmt}.pth", weights_only=True)
m = torchvision.models.resnet18(num_classes=2)
m.load_state_dict(sd, strict=True)
m.eval()
errs = 0
for k, v in start.items():
    if k.startswith(("conv1.", "bn1.", "layer1.", "layer2.", "layer3.")):
        if not torch.equal(sd[k], v):
            print(f"{k}: a frozen tensor changed")
            errs += 1
    elif k.startswith("layer4.") and ".conv" in k:
        if torch.equal(sd[k], v):
            print(f"{k}: a trainable tensor did not change")
            errs += 1
tf = T.Compose([T.Resize(44), T.CenterCrop(40), T.ToTensor(),
                T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
n = 0
for r in json.load(open(f"pred_{fmt}.json")):
    x = tf(Image.open(r["image"]).convert("RGB")).unsqueeze(0)
    with torch.no_grad():
        p = torch.softmax(m(x).double(), 1)[0]
    for e in r["predictions"]:
        n += 1
        if abs(e["probability"] - p[e["index"]].item()) > 1e-4:
            print(f"{r['image']}: {e['class']} {e['probability']} vs torch {p[e['index']].item()}")
            errs += 1
if n != 4:
    print(f"expected 4 predictions, got {n}")
    errs += 1
print(f"torch round trip ({fmt}): {errs} problems")
sys.exit(1 if errs else 0)
PYEOF

if ! $PY make.py; then
    echo "FAIL: making the torch checkpoints and images"
    echo "0 passed, 1 failed"
    exit 1
fi

for fmt in zip legacy; do
    cat > $fmt.json <<JSONEOF
{"model": {"weights": "start_$fmt.pth"},
 "freeze": ["conv1.*", "bn1.*", "layer1.*", "layer2.*", "layer3.*"],
 "freeze_bn_stats": true,
 "data": {"train": "data", "image_size": 40, "resize": 44, "augment": false},
 "train": {"epochs": 2, "batch_size": 4, "seed": 1, "threads": 2},
 "optimizer": {"lr": 0.05, "momentum": 0.9},
 "output": "runs/$fmt"}
JSONEOF
    "$BIN" train --config $fmt.json > train_$fmt.out 2> train_$fmt.err
    rc=$?
    if [[ $rc -eq 0 ]]; then ok "train from the $fmt .pth"; else bad "train from the $fmt .pth (rc=$rc): $(tail -3 train_$fmt.err)"; fi
    if grep -q "1000-class head is replaced by a new 2-class head" train_$fmt.err; then
        ok "$fmt: the replaced 1000-class head is said on stderr"
    else
        bad "$fmt: no word of the replaced 1000-class head: $(cat train_$fmt.err)"
    fi
    "$BIN" convert runs/$fmt/model.safetensors -o runs/$fmt/model.pth > conv_$fmt.out 2>&1
    rc=$?
    if [[ $rc -eq 0 && -s runs/$fmt/model.pth ]]; then ok "$fmt: convert back to .pth"; else bad "$fmt: convert back (rc=$rc): $(cat conv_$fmt.out)"; fi
    "$BIN" predict data/ants/0.png data/bees/5.png --model runs/$fmt/model.safetensors --json > pred_$fmt.json 2> pred_$fmt.err
    rc=$?
    if [[ $rc -eq 0 ]]; then ok "$fmt: predict"; else bad "$fmt: predict (rc=$rc): $(cat pred_$fmt.err)"; fi
    if $PY check.py "$fmt"; then
        ok "$fmt: torch.load(weights_only=True) loads it, predicts the same, frozen tensors bit-identical"
    else
        bad "$fmt: torch round trip"
    fi
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
