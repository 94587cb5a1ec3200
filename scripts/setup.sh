#!/usr/bin/env bash
# setup.sh: installs what tgfinetune needs on Debian bookworm (as root, or with sudo).
#   scripts/setup.sh          build dependencies and the demo's data set
#   scripts/setup.sh --test   also PyTorch, torchvision and PIL (reference data) and clang (fuzzers)
set -euo pipefail
pkgs=(build-essential pkg-config meson ninja-build libpng-dev libjpeg62-turbo-dev zlib1g-dev
      libopenblas-dev libcjson-dev libcairo2-dev fonts-dejavu-core check dataset-fashion-mnist)
if [[ "${1:-}" == "--test" ]]; then
    pkgs+=(python3-torch python3-torchvision python3-pil python3-numpy clang libclang-rt-14-dev)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO=sudo
    echo "setup: installing ${missing[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
