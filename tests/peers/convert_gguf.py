"""Convert the tiny model to GGUF with llama.cpp's own converter.

The converter guesses a pre-tokenizer from a hash of known vocabularies; ours is new, so it would
refuse. We tell it to treat ours as Qwen2's GPT-2-style BPE, which is what it is.

Usage: convert_gguf.py LLAMA_CPP_DIR MODEL_DIR --outfile OUT.gguf --outtype f32
"""

import os
import runpy
import sys

llama_dir = sys.argv.pop(1)
sys.path[:0] = [llama_dir, os.path.join(llama_dir, "gguf-py")]

import conversion.base as base  # noqa: E402  (importable only once llama.cpp is on the path)
import conversion.qwen as qwen  # noqa: E402

qwen.Qwen2Model.set_vocab = lambda self: self._set_vocab_gpt2()
base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "qwen2"
sys.argv[0] = os.path.join(llama_dir, "convert_hf_to_gguf.py")
runpy.run_path(sys.argv[0], run_name="__main__")
