#!/usr/bin/env bash
# fetch.sh: downloads torchvision's ResNet-18 ImageNet weights, checks their SHA-256 and
# converts them to weights/resnet18.safetensors. Needs internet access (never run by tests).
#   bash weights/fetch.sh [path/to/tgfinetune]
set -euo pipefail
cd "$(dirname "$0")"
URL=https://download.pytorch.org/models/resnet18-f37072fd.pth
SHA256=f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec
PTH=resnet18-f37072fd.pth
OUT=resnet18.safetensors
TG=${1:-}
if [[ -z $TG ]]; then
    for c in ../build/cmd/tgfinetune ../build-test/cmd/tgfinetune "$(command -v tgfinetune || true)"; do
        if [[ -n $c && -x $c ]]; then TG=$c; break; fi
    done
fi
if [[ -z $TG ]]; then
    echo "fetch.sh: build tgfinetune first (meson setup build && ninja -C build) or pass its path" >&2
    exit 1
fi
if [[ ! -f $PTH ]] || ! echo "$SHA256  $PTH" | sha256sum -c --quiet - 2>/dev/null; then
    echo "downloading $URL"
    tmp=$(mktemp "$PTH.part.XXXXXX")
    trap 'rm -f "$tmp"' EXIT
    if command -v curl >/dev/null; then
        curl -fL --retry 3 -o "$tmp" "$URL"
    else
        wget -O "$tmp" "$URL"
    fi
    if ! echo "$SHA256  $tmp" | sha256sum -c --quiet -; then
        echo "fetch.sh: SHA-256 mismatch for $URL (expected $SHA256); file discarded" >&2
        exit 1
    fi
    mv "$tmp" "$PTH"
    trap - EXIT
fi
echo "$PTH: SHA-256 OK"
"$TG" convert "$PTH" -o "$OUT"
"$TG" info "$OUT" | tail -1
echo "use it with \"model\": {\"weights\": \"weights/$OUT\"} (or the .pth directly)"
