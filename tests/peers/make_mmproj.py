"""Write the tiny model's multimodal projector (mmproj) for llama-server, with llama.cpp's own gguf-py.

llama-server takes images only with an mmproj. Ours is llama.cpp's simplest kind, LLaVA-1.5's "mlp"
projector, with no vision transformer block at all: its weights come from make_model.projector_weights,
which also serve the model's self-test, so the text model was built and checked against exactly these
numbers. What clip.cpp does with the file (tools/mtmd/clip.cpp, models/llava.cpp):
- resize the image (bicubic, letterboxed) to IMAGE_SIZE, scale pixels to 0..1 (mean 0, std 1);
- a stride-PATCH conv per patch, + a position embedding per patch (no class token: clip.cpp appends
  it last yet drops the first row, which would shift every patch);
- block_count 0: no block runs, and no layer norm is stored;
- mm.0, GELU, mm.2, one embedding per patch, fed to the text model in place of the image.

Usage: make_mmproj.py LLAMA_CPP_DIR MODEL_DIR OUT.gguf
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from make_model import IMAGE_SIZE, PATCH, Layout, projector_weights


def main(llama_dir: str, model_dir: str, out: str) -> None:
    sys.path.insert(0, str(Path(llama_dir) / "gguf-py"))
    import gguf  # llama.cpp's own GGUF writer, from its sources

    config = json.loads((Path(model_dir) / "config.json").read_text())
    layout = Layout(config["vocab_size"])
    if layout.hidden != config["hidden_size"]:
        raise SystemExit(f"layout hidden size {layout.hidden} != the model's {config['hidden_size']}")
    weights = projector_weights(layout)
    vision = weights["v.position_embd.weight"].shape[1]
    writer = gguf.GGUFWriter(out, arch="clip")
    writer.add_name("tiny-scripted mmproj (hand-weighted)")
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_string("clip.projector_type", "mlp")
    writer.add_uint32("clip.vision.image_size", IMAGE_SIZE)
    writer.add_uint32("clip.vision.patch_size", PATCH)
    writer.add_uint32("clip.vision.embedding_length", vision)
    writer.add_uint32("clip.vision.feed_forward_length", 2 * vision)  # equal to the width, clip.cpp swaps up/down
    writer.add_uint32("clip.vision.block_count", 0)
    writer.add_uint32("clip.vision.projection_dim", layout.hidden)
    writer.add_uint32("clip.vision.attention.head_count", 1)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    writer.add_array("clip.vision.image_mean", [0.0, 0.0, 0.0])
    writer.add_array("clip.vision.image_std", [1.0, 1.0, 1.0])
    for name, tensor in weights.items():
        writer.add_tensor(name, tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"wrote {out}: {(IMAGE_SIZE // PATCH) ** 2} image tokens of width {layout.hidden}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
