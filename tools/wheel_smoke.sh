#!/usr/bin/env bash
# The installed package on its own: build the wheel, install it into a fresh venv
# (no checkout on sys.path), and from an empty folder run what a new user runs first.
#
#   tools/wheel_smoke.sh [WORKDIR]        # WORKDIR is kept; without it a temp folder is
#                                         # used and removed when every step passed
#
# Environment: PYTHON (default python3), SMOKE_TORCH (the torch requirement installed
# beside the wheel; default torch==2.13.0, the CPU wheel), SMOKE_QUICKSTART=0 skips
# the quickstart step. Exits non-zero on the first failing step.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ $# -ge 1 ]; then WORK="$1"; CLEANUP=0; else WORK="$(mktemp -d -t graphspec-smoke.XXXXXX)"; CLEANUP=1; fi
PYTHON="${PYTHON:-python3}"
SMOKE_TORCH="${SMOKE_TORCH:-torch==2.13.0}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
step() { printf '\n== wheel smoke: %s\n' "$*"; }

step "build the wheel (from a copy of the tree, so build/ never goes stale in the checkout)"
rm -rf "$WORK/src" "$WORK/dist" "$WORK/venv" "$WORK/empty"
mkdir -p "$WORK/src"
tar -C "$ROOT" --exclude=./.git --exclude=./.venv --exclude=./venv --exclude=./runs --exclude=./build \
    --exclude=./dist --exclude='__pycache__' --exclude='*.egg-info' --exclude=./.hypothesis -cf - . \
  | tar -C "$WORK/src" -xf -
"$PYTHON" -m pip wheel -q --no-deps "$WORK/src" -w "$WORK/dist"
WHEEL="$(ls "$WORK"/dist/graphspec-*.whl)"
echo "$WHEEL"

step "install it into a fresh venv with $SMOKE_TORCH"
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q "$SMOKE_TORCH" "$WHEEL"

step "run from an empty folder"
mkdir -p "$WORK/empty"
cd "$WORK/empty"
unset PYTHONPATH
export PATH="$WORK/venv/bin:$PATH" GRAPHSPEC_PROVIDER=cpu
python - <<'EOF'
import pathlib, graphspec
where = pathlib.Path(graphspec.__file__).resolve()
assert "site-packages" in where.parts, f"graphspec imported from {where}, not the installed wheel"
print("graphspec imported from", where.parent)
EOF
set -x
graphspec --version
graphspec zoo
graphspec zoo --json > zoo.json
graphspec inspect resnet18 --depth 1
graphspec validate digits_mlp
graphspec zoo resnet18 -o mine
graphspec validate mine/resnet18.yaml
graphspec completion bash > graphspec.bash
graphspec train digits_mlp --set train.epochs=2 --quiet
graphspec export digits_mlp --weights runs/digits_mlp -o digits_mlp.onnx
set +x
cat > my_net.py <<'PY'
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self, width=8):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        return self.head(torch.flatten(self.body(x), 1))
PY
set -x
# a user's own module in the current folder, and an ONNX file, become checked specs
graphspec import my_net:Net --kwargs '{"width": 6}' --input x=batch,1,8,8 -o my_net.yaml --weights my_net.safetensors
graphspec validate my_net.yaml
graphspec import digits_mlp.onnx -o mlp_back.yaml
if [ "${SMOKE_QUICKSTART:-1}" != 0 ]; then graphspec quickstart --quiet; fi
set +x
python - <<'EOF'
import json, pathlib
zoo = json.loads(pathlib.Path("zoo.json").read_text())
assert len(zoo) >= 20 and {"resnet18", "digits_mlp", "digits_lenet5"} <= {m["name"] for m in zoo}, zoo
assert pathlib.Path("digits_mlp.onnx").stat().st_size > 0
assert pathlib.Path("mine/blocks/resnet.yaml").is_file() and pathlib.Path("mine/graphspec.schema.json").is_file()
assert pathlib.Path("runs/digits_mlp/results.json").is_file()
assert pathlib.Path("my_net.safetensors").stat().st_size > 0 and "Conv2d" in pathlib.Path("my_net.yaml").read_text()
assert "Linear" in pathlib.Path("mlp_back.yaml").read_text()
print("wheel smoke: all steps passed")
EOF
if [ "$CLEANUP" = 1 ]; then cd / && rm -rf "$WORK"; fi
