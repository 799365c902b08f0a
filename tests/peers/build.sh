#!/usr/bin/env bash
# Build the suite's three real local peers, offline apart from the package registry:
#   - llama.cpp's llama-server, compiled from the llama-cpp-python sdist (CPU, no network features);
#   - Hugging Face `transformers serve`, in its own virtualenv;
#   - vLLM's OpenAI server (CPU), in its own virtualenv with its own stamp (tests/peers/build_vllm.sh);
# and the tiny scripted model they serve (tests/peers/make_model.py), as an HF folder and as GGUF, with
# a multimodal projector for llama-server (tests/peers/make_mmproj.py).
# Each step prints its time. Seen on a 2-core machine shared with other builds (load ~15): the
# transformers venv 308 s, the model 47 s, its GGUF and projector 109 s, vLLM's venv 465 s; llama-server's
# compile is the longest step, about 6 min when the machine is idle and far longer when it is not.
#
# Usage: tests/peers/build.sh [CACHE_DIR]   (default: $CONFORMANCE_PEERS_DIR or ~/.cache/conformance-peers)
# The cache lives outside the checkout; a second run with unchanged inputs returns at once.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
W=${1:-${CONFORMANCE_PEERS_DIR:-$HOME/.cache/conformance-peers}}
LLAMA_CPP_PYTHON=0.3.36
TORCH=2.13.0
TRANSFORMERS=${CONFORMANCE_TRANSFORMERS_VERSION:-5.24.0}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# The model reads the digit font of the suite's vision probes, so their source is an input too.
stamp=$(cat "$HERE"/build.sh "$HERE"/make_model.py "$HERE"/make_mmproj.py "$HERE"/chat_template.jinja \
  "$HERE"/convert_gguf.py "$HERE"/../../conformance/probes/vision.py | sha256sum | cut -c1-16)
took() { echo "   took $((SECONDS - step)) s"; step=$SECONDS; }

# llama-server, transformers serve and the model they share, under the stamp above.
build_base() {
  mkdir -p "$W"
  cd "$W"
  rm -f stamp
  step=$SECONDS

  echo "== python env for the model builder and transformers serve"
  [ -x venv/bin/python ] || python3 -m venv venv
  venv/bin/pip install -q "torch==$TORCH" "transformers[serving]==$TRANSFORMERS"
  took

  echo "== tiny scripted model"
  rm -rf models && mkdir -p models
  venv/bin/python "$HERE/make_model.py" models/tiny-scripted
  took

  echo "== llama.cpp sources from the llama-cpp-python sdist"
  if [ ! -d "dl/llama_cpp_python-$LLAMA_CPP_PYTHON" ]; then
    venv/bin/pip download -q --no-deps --no-binary :all: -d dl "llama-cpp-python==$LLAMA_CPP_PYTHON"
    tar xzf "dl/llama_cpp_python-$LLAMA_CPP_PYTHON.tar.gz" -C dl
  fi
  L=$W/dl/llama_cpp_python-$LLAMA_CPP_PYTHON/vendor/llama.cpp
  venv/bin/python "$HERE/convert_gguf.py" "$L" models/tiny-scripted --outfile models/tiny-scripted.gguf --outtype f32 > convert.log 2>&1 \
    || { tail -30 convert.log; exit 1; }
  venv/bin/python "$HERE/make_mmproj.py" "$L" models/tiny-scripted models/tiny-scripted-mmproj.gguf
  took

  echo "== llama-server (CPU, portable)"
  if [ ! -x bin/llama-server ]; then
    generator=$(command -v ninja >/dev/null && echo Ninja || echo "Unix Makefiles")
    cmake -S "$L" -B "$L/build" -G "$generator" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF \
      -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
      -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF > cmake.log 2>&1 || { tail -30 cmake.log; exit 1; }
    cmake --build "$L/build" --target llama-server -j"$(nproc)" > build.log 2>&1 || { tail -30 build.log; exit 1; }
    mkdir -p bin && cp -a "$L"/build/bin/llama-server "$L"/build/bin/*.so* bin/
  fi
  took

  echo "$stamp" > stamp
  echo "peers ready in $W"
}

if [ -f "$W/stamp" ] && [ "$(cat "$W/stamp")" = "$stamp" ]; then
  echo "peers up to date in $W"
else
  (build_base)
fi
"$HERE/build_vllm.sh" "$W"
