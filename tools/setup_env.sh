#!/usr/bin/env bash
# Creates ./.venv with the pinned genisp-mmdet stack. Idempotent: a second run on a machine
# that already built mmcv reuses the cached wheel and finishes in about a minute.
#
#   bash tools/setup_env.sh            # or: make env
#
# Environment knobs:
#   GENISP_VENV       where the virtual environment goes       (default: ./.venv)
#   GENISP_WHEELHOUSE where the compiled mmcv wheel is kept    (default: ~/.cache/genisp-mmdet/wheels)
#   PYTHON            interpreter used to create the venv      (default: python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GENISP_VENV:-$ROOT/.venv}"
WHEELHOUSE="${GENISP_WHEELHOUSE:-$HOME/.cache/genisp-mmdet/wheels}"
PYTHON="${PYTHON:-python3}"

TORCH_PIN="torch==2.14.1"
TORCHVISION_PIN="torchvision==0.29.1"
MMCV_VERSION="2.1.0"
MMENGINE_PIN="mmengine==0.10.7"
MMDET_PIN="mmdet==3.3.0"

say() { printf '\n[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
start=$(date +%s)

if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --quiet --progress-bar off)

# A stamp of this script's content, the repo's setup.py and the C kernel's source lets an
# unchanged, complete environment return at once (an edited kernel is rebuilt).
STAMP="$VENV/.genisp-setup-stamp"
KERNEL_SRC="$ROOT/genisp_mmdet/raw/_pack_kernel.c"
want_stamp="$(cat "${BASH_SOURCE[0]}" "$ROOT/setup.py" "$KERNEL_SRC" 2>/dev/null | sha256sum | cut -c1-16)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] \
   && "$PY" -c "import mmcv.ops, mmdet, rawpy, genisp_mmdet" 2>/dev/null; then
  say "environment $VENV is complete and up to date ($(( $(date +%s) - start ))s)"
  exit 0
fi

say "installing $TORCH_PIN $TORCHVISION_PIN (from the local package mirror, several GB to unpack)"
"${PIP[@]}" "$TORCH_PIN" "$TORCHVISION_PIN"

# After torch: its install may pull a newer setuptools, and mmcv's setup.py imports
# pkg_resources, which setuptools 80 removed.
say "build tools (setuptools<80, wheel, ninja)"
"${PIP[@]}" "setuptools<80" wheel ninja

# mmengine first: mmcv's wheel goes in without dependencies (so pip never tries to rebuild it)
# and mmengine brings what mmcv needs at run time.
say "installing $MMENGINE_PIN"
"${PIP[@]}" "$MMENGINE_PIN"

mmcv_ok() { "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; }
if ! mmcv_ok; then
  cuda=0
  if command -v nvcc >/dev/null 2>&1 && command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    cuda=1
  fi
  flavour=$([ "$cuda" = 1 ] && echo cuda || echo cpu)
  torch_tag="$("$PY" -c 'import torch; print(torch.__version__.replace("+", "_"))')"
  house="$WHEELHOUSE/$flavour-torch$torch_tag"
  mkdir -p "$house"
  wheel="$(ls "$house"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
  if [ -z "$wheel" ]; then
    say "building mmcv $MMCV_VERSION with compiled ops ($flavour) from its sdist: this takes ~10 minutes on 2 cores, once per machine"
    build="$(mktemp -d)"
    trap 'rm -rf "$build"' EXIT
    "$PY" -m pip download --quiet --no-deps --no-binary :all: --no-build-isolation \
      "mmcv==$MMCV_VERSION" -d "$build"
    tar -xzf "$build"/mmcv-"$MMCV_VERSION".tar.gz -C "$build"
    # torch >= 2.10 headers need C++20; mmcv 2.1.0 hard-codes C++14/17.
    sed -i 's/-std=c++14/-std=c++20/g; s/-std=c++17/-std=c++20/g' "$build/mmcv-$MMCV_VERSION/setup.py"
    export MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}"
    [ "$cuda" = 1 ] && export FORCE_CUDA=1
    "$PY" -m pip wheel --no-deps --no-build-isolation -w "$house" "$build/mmcv-$MMCV_VERSION"
    wheel="$(ls "$house"/mmcv-"$MMCV_VERSION"-*.whl | head -n1)"
    say "mmcv wheel cached at $wheel"
  else
    say "using cached mmcv wheel $wheel"
  fi
  "${PIP[@]}" --no-deps "$wheel"
fi

say "installing $MMDET_PIN rawpy pidng pycocotools pytest"
"${PIP[@]}" "$MMDET_PIN" "mmcv==$MMCV_VERSION" rawpy pidng pycocotools pytest tqdm

# Optional test extras (setup.py's 'onnx' extra): the YOLOX-Nano ONNX -> MMDetection converter
# (tools/model_converters/yolox_onnx_to_mmdet.py) and its tests, which compare against
# onnxruntime; those tests skip without them. The genisp_mmdet package never imports either,
# so a platform without onnxruntime wheels still gets a working environment.
say "installing optional test extras: onnx onnxruntime"
"${PIP[@]}" onnx onnxruntime || say "warning: onnx/onnxruntime not installed; the YOLOX conversion tests will be skipped"

say "installing genisp_mmdet in editable mode (compiles its C packing kernel)"
"${PIP[@]}" --no-deps --no-build-isolation -e "$ROOT"

"$PY" - <<'PYCHECK'
import torch, torchvision, mmcv, mmengine, mmdet, rawpy, numpy
from mmcv.ops import nms
import genisp_mmdet
from genisp_mmdet.raw import pack_kernel_available
from genisp_mmdet.raw.packing import _KERNEL_MISSING
print("RAW packing: " + ("compiled C kernel" if pack_kernel_available() else
      f"NumPy fallback, ~3x slower (C kernel unavailable: {_KERNEL_MISSING})"))
print(f"torch {torch.__version__} (cuda available: {torch.cuda.is_available()}), "
      f"torchvision {torchvision.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, "
      f"mmdet {mmdet.__version__}, rawpy {rawpy.__version__}, numpy {numpy.__version__}")
PYCHECK
echo "$want_stamp" > "$STAMP"
say "environment ready in $(( $(date +%s) - start ))s: activate with 'source $VENV/bin/activate'"
