#!/usr/bin/env bash
# Lays out the CPU trainer image's second layer in $1 (test/cluster/images.ts): veRL 0.6.0's package unpacked at
# /opt/verl as the real trainer image has it (images/trainer: the source tree on PYTHONPATH), then the stand-ins of
# README.md over it, and the GPU seam for Ray. $2 is the directory holding the verl wheel.
set -euo pipefail
dest=$1 wheels=$2
here=$(cd "$(dirname "$0")" && pwd)
site=$dest/usr/local/lib/python3.11/dist-packages
mkdir -p "$dest/opt/verl" "$dest/usr/local/bin" "$site"
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
python3 -m zipfile -e "$wheels"/verl-0.6.0-py3-none-any.whl "$unpacked"
cp -r "$unpacked/verl" "$dest/opt/verl/verl"
cp -r "$here/standins/verl/." "$dest/opt/verl/verl/"
cp -r "$here/standins/recipe" "$dest/opt/verl/recipe"
cp -r "$here/standins/collab_cpu" "$site/collab_cpu"
cp "$here/standins/collab-cpu.pth" "$site/"
install -m 0755 "$here/standins/bin/torchrun" "$dest/usr/local/bin/torchrun"
find "$dest" -name __pycache__ -prune -exec rm -rf {} +
chmod -R a+rX,go-w "$dest"
