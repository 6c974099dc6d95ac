#!/usr/bin/env bash
# Build Even/Odd Studio as a one-folder windowed app, then prove the fresh bundle works.
#
#   bash packaging/build.sh            venv + bundle + self-test + slow build test
#   bash packaging/build.sh --no-test  venv + bundle + self-test only (used by that test)
#
# Steps: a virtual environment of its own (packaging/venv) with a CPU-only torch and the
# app's other run-time dependencies, without torchvision (a CUDA torch makes the bundle
# ~5 GB); the project itself; PyInstaller with packaging/evenodd.spec; on Linux the desktop
# entry (install.sh, .desktop, AppStream metainfo, icons; packaging/desktop.py) staged into
# the bundle and validated; then the bundle's own `--self-test`, offscreen and without
# network, timed as the cold start; bundle size.
#
# Environment: PYTHON (interpreter for the venv, default python3), TORCH_WHEEL (a CPU torch
# wheel file; default the one on this machine's disk if present), TORCH_SPEC (what to ask
# pip for otherwise, default torch==2.13.0), TORCH_INDEX_URL (an extra index for the CPU
# wheels, see packaging/README.md).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
VENV="$HERE/venv"
DIST="$HERE/dist"
NAME="EvenOddStudio"
PYTHON="${PYTHON:-python3}"
TORCH_WHEEL="${TORCH_WHEEL:-/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
RUN_TESTS=1
[ "${1:-}" = "--no-test" ] && RUN_TESTS=0

step() { printf '\n== %s\n' "$*"; }
now() { "$PYTHON" -c 'import time; print(time.time())'; }  # portable: BSD date has no %N
started=$(date +%s)

step "virtual environment: $VENV"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q)
torch=("$TORCH_SPEC")
[ -f "$TORCH_WHEEL" ] && torch=("$TORCH_WHEEL")
[ -n "${TORCH_INDEX_URL:-}" ] && torch+=(--extra-index-url "$TORCH_INDEX_URL")
"${PIP[@]}" "${torch[@]}"
# The run-time dependencies of pyproject.toml minus torchvision (the app never imports it;
# only a benchmark does), plus PyInstaller. Kept in step with pyproject.toml by hand.
"${PIP[@]}" "numpy>=1.26" "scikit-learn>=1.4" "matplotlib>=3.8" "Pillow>=10.3" \
  "platformdirs>=4.0" "PySide6-Essentials>=6.7,!=6.12.0" "pyinstaller>=6.10"
# --no-deps: pyproject.toml asks for torchvision, which would pull in another torch.
"${PIP[@]}" --no-deps "$ROOT"
"$VENV/bin/python" - <<'EOF'
import importlib.util, sys, torch
problems = []
if torch.version.cuda is not None:
    problems.append(f"torch {torch.__version__} is a CUDA build; the bundle wants a CPU-only one")
if importlib.util.find_spec("torchvision") is not None:
    problems.append("torchvision is installed in the build venv; remove it (not used at run time)")
if problems:
    sys.exit("\n".join(problems))
print(f"torch {torch.__version__} (CPU only), no torchvision")
EOF

step "PyInstaller"
build_started=$(date +%s)
# No --clean: PyInstaller reuses its analysis when nothing it depends on changed (the
# torch hook alone imports every torch module, minutes on a small machine). Delete
# packaging/build for a from-scratch build.
"$VENV/bin/pyinstaller" --noconfirm --log-level WARN \
  --distpath "$DIST" --workpath "$HERE/build" "$HERE/evenodd.spec"
build_seconds=$(( $(date +%s) - build_started ))

APP="$DIST/$NAME/$NAME"
[ -x "$APP" ] || APP="$DIST/$NAME.app/Contents/MacOS/$NAME"
cp "$ROOT/LICENSE" "$(dirname "$APP")/LICENSE"

if [ "$(uname -s)" = Linux ]; then
  step "desktop entry: install.sh, .desktop, AppStream metainfo, hicolor icons"
  "$VENV/bin/python" "$HERE/desktop.py" stage "$DIST/$NAME" >/dev/null
  # The freedesktop validators (Debian: desktop-file-utils, appstream); installed here when
  # missing and apt-get can, because a bundle whose menu entry was never validated is not
  # finished.
  if ! command -v desktop-file-validate >/dev/null || ! command -v appstreamcli >/dev/null; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
      apt-get update -qq && apt-get install -y -qq desktop-file-utils appstream >/dev/null
    fi
  fi
  "$VENV/bin/python" "$HERE/desktop.py" validate "$DIST/$NAME"
fi
step "self-test of the fresh bundle: $APP"
# Offscreen, outside the source tree, without PYTHONPATH, and without network where the
# kernel lets us make an empty network namespace: the bundle must need none of them.
isolate=()
if command -v unshare >/dev/null && unshare -n true 2>/dev/null; then
  isolate=(unshare -n)
else
  echo "(unshare -n not available: running with the network present)"
fi
cd "$(mktemp -d)"
t0=$(now)
env -u PYTHONPATH -u PYTHONHOME QT_QPA_PLATFORM=offscreen "${isolate[@]}" "$APP" --self-test
t1=$(now)
cd "$ROOT"

size=$(du -sh "$DIST/$NAME" | cut -f1)
step "summary"
echo "bundle: $DIST/$NAME ($size, $(find "$DIST/$NAME" -type f | wc -l) files)"
echo "PyInstaller build time: ${build_seconds} s; whole script so far: $(( $(date +%s) - started )) s"
"$PYTHON" -c "print('cold start (first --self-test of the fresh bundle): %.1f s' % ($t1 - $t0))"
echo "load while measuring: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"

if [ "$RUN_TESTS" = 1 ]; then
  step "slow build test (tests/test_packaging.py)"
  EVENODD_BUILD_TEST=1 "$PYTHON" -m pytest -q -n0 -m slow -p no:cacheprovider \
    "$ROOT/tests/test_packaging.py"
fi
