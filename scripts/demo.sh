#!/usr/bin/env bash
# demo.sh: the README's first command. On a fresh Debian bookworm machine it installs what is
# missing (scripts/setup.sh), builds tgfinetune into build/, turns Debian's Fashion-MNIST
# (dataset-fashion-mnist) into an image folder with the project's fmnist2folder, trains
# resnet18 with configs/demo.json (configs/demo-pretrained.json when
# weights/resnet18.safetensors exists), evaluates on held-out images and predicts one.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

if [[ ! -f build/build.ninja ]]; then
    meson setup build >/dev/null
fi
ninja -C build >/dev/null || ninja -C build
TG=build/cmd/tgfinetune

DATA=data/fashion-mnist
if [[ ! -f $DATA/.complete ]]; then
    rm -rf "$DATA"
    # 500 training images per class from the training set; validation and test images from
    # Fashion-MNIST's separate test set (held out: never trained on)
    build/tools/fmnist2folder --train 500 --val 50 --test 200 "$DATA"
    touch "$DATA/.complete"
fi

if [[ -f weights/resnet18.safetensors ]]; then
    CONFIG=configs/demo-pretrained.json
    echo "demo: starting from ImageNet-pretrained weights/resnet18.safetensors ($CONFIG)"
else
    CONFIG=configs/demo.json
    echo "demo: weights/resnet18.safetensors not found (weights/README.md makes it):"
    echo "demo: starting from torchvision's random initialisation ($CONFIG)"
fi

start=$(date +%s)
$TG train --config "$CONFIG"
end=$(date +%s)
echo "demo: training took $((end - start)) s"

OUT=runs/demo
$TG eval --model $OUT/model.safetensors --data $DATA/test
$TG eval --model $OUT/model.safetensors --data $DATA/test --json > $OUT/eval-test.json
imgs=("$DATA"/test/Sneaker/*.png)
img=${imgs[0]}
$TG predict "$img" --topk 3
top1=$(python3 -c 'import json,sys; print("%.2f" % (100 * json.load(open(sys.argv[1]))["top1"]))' $OUT/eval-test.json)
n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["images"])' $OUT/eval-test.json)
echo "demo: top-1 on $n held-out Fashion-MNIST test images: $top1%"
