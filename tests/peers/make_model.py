"""Build a tiny, deterministic Qwen2 chat model whose weights are set by hand.

No training and no download: the suite needs a model whose every answer is known in advance, so that
the real servers it serves through (llama.cpp's llama-server, `transformers serve`) can be judged on
their protocol, not on a model's whims.

How it works (greedy decoding):
- the chat template writes a *mode marker* token at the start of the prompt, chosen from the
  conversation (tools offered, "json" asked for, thinking asked for, a tool result to read);
- one attention head copies that marker into every position; with no marker it reads image
  patches instead (llama-server's projector writes them, see projector_weights);
- another head reads the number token (" 0" to " 99") in the prompt, as a tens and a units digit,
  so an answer can repeat a number the server passed to the model (several numbers blur together);
- `lm_head` is a bigram table that walks one fixed script per mode, nudged by the mode, the number
  and what the image showed.

Scripted behaviour, first match wins:
- two or more tools are offered and the last user message says "both"
                                   -> two calls in one turn: `get_weather` for Paris, `get_time` for Tokyo;
- tools are offered and the last message is the user's -> a `get_weather` tool call for Paris;
- the last message is a tool result                    -> `The tool said N.`, N the number in the prompt
                                                          (the tool result's, in a round trip), or
                                                          `The tool said.` when there is none;
- the last user message mentions "json"                -> `{"name": "Ada", "age": 36}`;
- a reasoning effort is set, or the last user message mentions "think"
                                                       -> `<think>Thinking about the answer...</think>`
                                                          then the text script;
- an image reached the model (llama-server, --mmproj)  -> `I see D on C.`: D the digit (as a word) whose
                                                          glyph in the suite's font best matches the white
                                                          ink, C the commonest of red, green, blue, yellow,
                                                          white and black among the patches;
- otherwise                                            -> `Hello! This is a tiny test model.`

Usage: make_model.py OUT_DIR
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

import numpy as np
import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

MODES = ("tools", "tools2", "json", "think", "result")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *(f"<|mode_{m}|>" for m in MODES)]
TOOL_CALL_JSON = '\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
TIME_CALL_JSON = '\n{"name": "get_time", "arguments": {"city": "Tokyo"}}\n'
# Whole calls as single tokens: a bigram table cannot tell a first `</tool_call>` from a second one.
SCRIPTS: dict[str, list[str]] = {
    "text": ["Hello", "!", " This", " is", " a", " tiny", " test", " model", "."],
    "think": ["<think>", "Thinking", " about", " the", " answer", "...", "</think>"],
    "tools": ["<tool_call>", TOOL_CALL_JSON, "</tool_call>"],
    "tools2": [f"<tool_call>{TOOL_CALL_JSON}</tool_call>", f"\n<tool_call>{TIME_CALL_JSON}</tool_call>"],
    "json": ['{"name": "Ada", "age": 36}'],
    "result": ["The tool said"],  # then the number read from the prompt, then "."
    "image": ["I see"],  # then the digit, " on", the background colour, "."
}
TAG_PIECES = ("<think>", "</think>", "<tool_call>", "</tool_call>")
NUMBERS = [f" {n}" for n in range(100)]  # the number tokens the model can read and repeat
TENS = 11  # tens digit 0-9, or 10 for a one-digit number
UNITS = 10

# Vision (llama-server's mtmd path, through tests/peers/make_mmproj.py). The image is resized to 44x44,
# cut into 11x11 patches of 4x4 pixels: one patch per cell of the suite's own digit image, a 5x7 glyph
# centred in an 11x11 grid (conformance/probes/vision.py, whose font the model is built to read).
IMAGE_SIZE, PATCH = 44, 4
GRID = IMAGE_SIZE // PATCH
DIGIT_WORDS = (" zero", " one", " two", " three", " four", " five", " six", " seven", " eight", " nine")
COLOURS: dict[str, tuple[int, int, int]] = {
    " red": (1, 0, 0),
    " green": (0, 1, 0),
    " blue": (0, 0, 1),
    " yellow": (1, 1, 0),
    " white": (1, 1, 1),
    " black": (0, 0, 0),
}
IMAGE_PIECES = (*DIGIT_WORDS, " on", *COLOURS)
IMAGE_PAD = 30.0  # a constant image-embedding dimension, so the text model's RMSNorm scales every patch alike
SHARP = 40.0  # the projector's GELU acts as a ReLU on inputs scaled this far from zero

# Jinja prefix that picks the mode marker; llama.cpp passes `reasoning_effort` from `reasoning.effort`.
# `enable_thinking: false` (vLLM's chat-template kwarg, as Qwen3 reads it) rules thinking out: the
# template then writes an empty think block and the model answers straight away.
MODE_PREFIX = (
    "{%- set _last = messages[-1] if messages else {} %}"
    "{%- set ns = namespace(txt='') %}"
    "{%- if _last.content is string %}{%- set ns.txt = _last.content %}"
    "{%- elif _last.content %}{%- for c in _last.content %}{%- if c.text is defined and c.text %}"
    "{%- set ns.txt = ns.txt ~ ' ' ~ c.text %}{%- endif %}{%- endfor %}{%- endif %}"
    "{%- set _txt = ns.txt | lower %}"
    "{%- set _effort = reasoning_effort if (reasoning_effort is defined and reasoning_effort) else 'none' %}"
    "{%- set _thinking = not (enable_thinking is defined and enable_thinking is false) %}"
    "{%- if tools and tools | length > 1 and _last.role == 'user' and 'both' in _txt %}<|mode_tools2|>"
    "{%- elif tools and _last.role == 'user' %}<|mode_tools|>"
    "{%- elif _last.role == 'tool' %}<|mode_result|>"
    "{%- elif _last.role == 'user' and 'json' in _txt %}<|mode_json|>"
    "{%- elif _thinking and (_effort != 'none' or (_last.role == 'user' and 'think' in _txt)) %}<|mode_think|>"
    "{%- endif %}"
)


def build_tokenizer(template: str) -> PreTrainedTokenizerFast:
    """Byte-level BPE, so any input encodes, plus one added token per scripted piece."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(["user assistant system tool tool_response"] * 20, trainer)
    plain = [p for script in SCRIPTS.values() for p in script if p not in TAG_PIECES]
    tok.add_tokens([AddedToken(p, normalized=False, special=False) for p in [*plain, *NUMBERS, *IMAGE_PIECES]])
    tok.add_tokens([AddedToken(p, normalized=False, special=False) for p in TAG_PIECES])
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    hf_tok.chat_template = MODE_PREFIX + template
    return hf_tok


def single_token(hf_tok: PreTrainedTokenizerFast, piece: str) -> int:
    ids = hf_tok.encode(piece, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"script piece {piece!r} must be one token, got {ids}")
    return ids[0]


@cache
def font() -> dict[str, tuple[str, ...]]:
    """The suite's digit font, read from the probe module's source (importing it needs the suite's dependencies)."""
    source = Path(__file__).resolve().parents[2] / "conformance" / "probes" / "vision.py"
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "FONT" and node.value:
            return ast.literal_eval(node.value)
    raise SystemExit(f"{source}: no FONT")


def templates() -> np.ndarray:
    """(10, GRID*GRID): 1 where digit d has ink, the glyph centred in the grid as the suite draws it."""
    out = np.zeros((10, GRID, GRID), np.float32)
    for d, glyph in font().items():
        top, left = (GRID - len(glyph)) // 2, (GRID - len(glyph[0])) // 2
        for y, line in enumerate(glyph):
            for x, bit in enumerate(line):
                out[int(d), top + y, left + x] = float(bit == "1")
    return out.reshape(10, GRID * GRID)


class Layout:
    """Where each signal lives in the residual stream, after the one-hot token dimensions.

    `mode` has one dimension per template mode plus "image"; `seen_*` is what attention read from the
    image; `in_*` is what the projector writes into each image position.
    """

    HEAD_DIM = 32

    def __init__(self, vocab: int) -> None:
        sizes = {
            "mode": len(MODES) + 1,
            "tens": TENS,
            "units": UNITS,
            "seen_colour": len(COLOURS),
            "seen_digit": 10,
            "in_flag": 1,
            "in_colour": len(COLOURS),
            "in_digit": 10,
            "in_pad": 1,
        }
        self.at: dict[str, int] = {}
        offset = vocab
        for name, size in sizes.items():
            self.at[name] = offset
            offset += size
        step = 2 * self.HEAD_DIM  # two key/value groups of whole heads
        self.hidden = (offset + step - 1) // step * step

    def mode(self, name: str) -> int:
        return self.at["mode"] + [*MODES, "image"].index(name)


def projector_weights(layout: Layout) -> dict[str, np.ndarray]:
    """The mmproj's weights (llama.cpp's "mlp" projector: patch conv, + positions, mm.0, GELU, mm.2).

    Per patch: the conv takes the mean colour; the position embedding adds which digits have ink in
    that cell; mm.0 and the GELU score the patch's colour class and, per digit, hit / false ink /
    missing ink; mm.2 writes colour one-hot and digit agreement (+1 / -1 / 0) into the `in_*` dims.
    """
    f32 = np.float32
    vision = 16  # 3 colour channels, 10 digit templates
    patch = np.zeros((vision, 3, PATCH, PATCH), f32)
    for c in range(3):
        patch[c, c] = 1.0 / (PATCH * PATCH)
    position = np.zeros((GRID * GRID, vision), f32)
    position[:, 3:13] = templates().T
    units: list[tuple[np.ndarray, float]] = []  # (weights over the vision dims, bias): each an indicator
    for rgb in COLOURS.values():
        w = np.zeros(vision, f32)
        w[:3] = [2 * v - 1 for v in rgb]
        units.append((w, 0.5 - sum(rgb)))
    for d in range(10):
        ink = np.zeros(vision, f32)
        ink[:3] = 0.5  # white ink: 1 on white, 0 on a saturated colour
        at = np.zeros(vision, f32)
        at[3 + d] = 1.0
        units += [(ink + at, -2.0), (ink - at, -1.0), (at - ink, 0.0)]  # hit, false ink, missing ink
    mm0 = SHARP * np.stack([w for w, _ in units])
    mm0_b = SHARP * np.array([b for _, b in units], f32)
    mm2 = np.zeros((layout.hidden, len(units)), f32)
    mm2_b = np.zeros(layout.hidden, f32)
    mm2_b[layout.at["in_flag"]] = 1.0
    mm2_b[layout.at["in_pad"]] = IMAGE_PAD
    for c in range(len(COLOURS)):
        mm2[layout.at["in_colour"] + c, c] = 2.0 / SHARP  # an indicator unit peaks at 0.5 * SHARP
    for d in range(10):
        hit = len(COLOURS) + 3 * d
        mm2[layout.at["in_digit"] + d, hit : hit + 3] = [2.0 / SHARP, -2.0 / SHARP, -2.0 / SHARP]
    return {
        "v.patch_embd.weight": patch,
        "v.position_embd.weight": position,
        "mm.0.weight": mm0.astype(f32),
        "mm.0.bias": mm0_b,
        "mm.2.weight": mm2,
        "mm.2.bias": mm2_b,
    }


def project(pixels: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
    """What llama.cpp computes from a (IMAGE_SIZE, IMAGE_SIZE, 3) image in 0..1: one embedding per patch."""
    cells = pixels.reshape(GRID, PATCH, GRID, PATCH, 3).mean(axis=(1, 3)).reshape(GRID * GRID, 3)
    x = np.zeros((GRID * GRID, weights["v.position_embd.weight"].shape[1]), np.float32)
    x[:, :3] = cells
    x += weights["v.position_embd.weight"]
    h = x @ weights["mm.0.weight"].T + weights["mm.0.bias"]
    h = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h**3)))
    return h @ weights["mm.2.weight"].T + weights["mm.2.bias"]


def _digits(number: str) -> tuple[int, int]:
    """The (tens class, units) a number token is read as; tens class 10 means a one-digit number."""
    n = int(number)
    return (n // 10 if n >= 10 else 10), n % 10


def build_model(hf_tok: PreTrainedTokenizerFast) -> Qwen2ForCausalLM:
    """Set every weight by hand; see the module docstring for the mechanism and Layout for the dimensions.

    Two key/value groups: group 0 keys on mode markers (and, less strongly, on image patches, so a
    marker wins when both are present), group 1 on number tokens.
    """
    vocab = len(hf_tok)
    lay = Layout(vocab)
    head_dim, hidden = Layout.HEAD_DIM, lay.hidden
    heads = hidden // head_dim
    number_head = heads // 2  # the first query head of key/value group 1
    eos = hf_tok.convert_tokens_to_ids("<|im_end|>")
    newline = single_token(hf_tok, "\n")
    markers = {m: hf_tok.convert_tokens_to_ids(f"<|mode_{m}|>") for m in MODES}
    tid = lambda piece: single_token(hf_tok, piece)  # noqa: E731
    numbers = {tid(n): _digits(n) for n in NUMBERS}

    cfg = Qwen2Config(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=heads,
        num_key_value_heads=2,
        head_dim=head_dim,
        max_position_embeddings=32768,
        rope_parameters={"rope_theta": 1e6, "rope_type": "default"},
        rms_norm_eps=1e-6,
        eos_token_id=eos,
        pad_token_id=hf_tok.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    model = Qwen2ForCausalLM(cfg)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.fill_(1.0 if name.endswith("norm.weight") else 0.0)
        model.model.embed_tokens.weight[torch.arange(vocab), torch.arange(vocab)] = 1.0
        att = model.model.layers[0].self_attn
        scale = hidden**-0.5  # input_layernorm scales a one-hot vector to sqrt(hidden)
        d = head_dim // 2 - 1  # the signal lives in the lowest rotary frequency, so ~no rotation
        att.q_proj.bias[d] = 1.0
        att.q_proj.bias[number_head * head_dim + d] = 1.0
        for i, mode in enumerate(MODES):
            att.k_proj.weight[d, markers[mode]] = 600.0 * scale
            att.v_proj.weight[i, markers[mode]] = scale
            att.o_proj.weight[lay.mode(mode), i] = 1.0
        # Image patches: ~IMAGE_PAD long, so the RMSNorm scales them by sqrt(hidden) / IMAGE_PAD.
        image = IMAGE_PAD * scale
        att.k_proj.weight[d, lay.at["in_flag"]] = 450.0 * image
        slots = [(lay.at["in_flag"], lay.mode("image"))]
        slots += [(lay.at["in_colour"] + c, lay.at["seen_colour"] + c) for c in range(len(COLOURS))]
        slots += [(lay.at["in_digit"] + n, lay.at["seen_digit"] + n) for n in range(10)]
        for slot, (source, target) in enumerate(slots, start=len(MODES)):
            att.v_proj.weight[slot, source] = image
            att.o_proj.weight[target, slot] = 1.0
        for token, (tens, units) in numbers.items():
            att.k_proj.weight[head_dim + d, token] = 600.0 * scale
            att.v_proj.weight[head_dim + tens, token] = scale
            att.v_proj.weight[head_dim + TENS + units, token] = scale
        for j in range(TENS + UNITS):
            att.o_proj.weight[lay.at["tens"] + j, number_head * head_dim + j] = 1.0

        table = model.lm_head.weight
        first_text = tid(SCRIPTS["text"][0])
        table[first_text, :vocab] = 3.0  # an unknown last token starts the text script
        table[first_text, newline] = 10.5
        for mode in (*MODES, "image"):
            table[tid(SCRIPTS[mode][0]), newline] = 10.0
            table[tid(SCRIPTS[mode][0]), lay.mode(mode)] = 5.0

        def chain(script: list[str], end: int) -> None:
            for here, after in zip(script, [tid(p) for p in script[1:]] + [end], strict=True):
                table[:, tid(here)] = 0.0
                table[after, tid(here)] = 10.0

        def choose(after: str, options: list[int], seen: int, most: float, weight: float) -> None:
            """After `after`, the option whose `seen` dim is largest; elsewhere each stays below 0 (its
            `seen` value never exceeds `most`, which the image flag takes off again)."""
            table[:, tid(after)] = 0.0
            for k, option in enumerate(options):
                table[option, tid(after)] = 20.0
                table[option, seen + k] = weight
                table[option, lay.mode("image")] = -weight * most

        chain(SCRIPTS["text"], eos)
        chain(SCRIPTS["tools"], eos)
        chain(SCRIPTS["tools2"], eos)
        chain(SCRIPTS["json"], eos)
        chain(SCRIPTS["think"], first_text)
        # "The tool said" -> the number read (both digits agree: +2.8; one: +1.4), else straight to ".".
        said, stop = tid(SCRIPTS["result"][0]), tid(".")
        table[:, said] = 0.0
        table[stop, said] = 10.5
        for token, (tens, units) in numbers.items():
            table[token, said] = 10.0
            table[token, lay.at["tens"] + tens] = 1.4  # below the 3.0 of an unknown token's fallback
            table[token, lay.at["units"] + units] = 1.4
            table[:, token] = 0.0
            table[stop, token] = 10.0
        # "I see" -> the digit whose template the patches match best -> " on" -> the commonest colour -> ".".
        # A digit's agreement averages at most 17/121 (the inkiest glyph); a colour's share at most 1.
        digits, colours = [tid(w) for w in DIGIT_WORDS], [tid(c) for c in COLOURS]
        choose(SCRIPTS["image"][0], digits, lay.at["seen_digit"], 0.2, 100.0)
        for word in digits:
            table[:, word] = 0.0
            table[tid(" on"), word] = 10.0
        choose(" on", colours, lay.at["seen_colour"], 1.0, 10.0)
        for word in colours:
            table[:, word] = 0.0
            table[stop, word] = 10.0
    model.generation_config = GenerationConfig(
        eos_token_id=eos, pad_token_id=cfg.pad_token_id, do_sample=False, max_new_tokens=64
    )
    return model


def self_test(hf_tok: PreTrainedTokenizerFast, model: Qwen2ForCausalLM) -> None:
    """Fail the build if any scripted path does not produce its script."""

    def tool(name: str) -> dict:
        return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}

    weather, both = [tool("get_weather")], [tool("get_weather"), tool("get_time")]
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    asked = [{"role": "user", "content": "Weather in Paris?"}, {"role": "assistant", "tool_calls": [call]}]
    cases = {
        "text": ([{"role": "user", "content": "Say hello"}], None, "Hello! This is a tiny test model."),
        "tools": ([{"role": "user", "content": "Weather in Paris?"}], weather, "<tool_call>"),
        "tools2": (
            [{"role": "user", "content": "Weather in Paris and time in Tokyo? Use both."}],
            both,
            f"<tool_call>{TOOL_CALL_JSON}</tool_call>\n<tool_call>{TIME_CALL_JSON}</tool_call>",
        ),
        "result": (
            [*asked, {"role": "tool", "tool_call_id": "c1", "content": '{"temperature_c": 13, "sky": "ash"}'}],
            weather,
            "The tool said 13.",
        ),
        "result7": (
            [*asked, {"role": "tool", "tool_call_id": "c1", "content": "It is 7 here"}],
            weather,
            "The tool said 7.",
        ),
        "result-": (
            [*asked, {"role": "tool", "tool_call_id": "c1", "content": "no number"}],
            weather,
            "The tool said.",
        ),
        "json": ([{"role": "user", "content": "Reply in JSON please"}], None, '{"name": "Ada", "age": 36}'),
        "think": (
            [{"role": "system", "content": "sys"}, {"role": "user", "content": "Think first"}],
            None,
            "<think>Thinking about the answer...</think>Hello!",
        ),
        "think-off": (
            [{"role": "user", "content": "Think first"}],
            None,
            "Hello! This is a tiny test model.",
        ),
        "text+number": ([{"role": "user", "content": "Say 42 words"}], None, "Hello! This is a tiny test model."),
    }
    # Thinking turned off, as vLLM's --default-chat-template-kwargs does: an empty think block, no thoughts.
    template_kwargs = {"think-off": {"enable_thinking": False}}
    for name, (messages, tool_list, expected) in cases.items():
        enc = hf_tok.apply_chat_template(
            messages,
            tools=tool_list,
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
            **template_kwargs.get(name, {}),
        )
        out = model.generate(**enc, max_new_tokens=24)
        text = hf_tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        if not text.startswith(expected):
            raise SystemExit(f"self-test {name}: expected {expected!r}..., got {text!r}")
        print(f"self-test {name:11s} ok: {text!r}")


def cell_image(digit: int, paper: tuple[int, int, int]) -> np.ndarray:
    """The suite's digit image as llama.cpp sees it after resizing: white ink, one 4x4 patch per cell."""
    ink = templates()[digit].reshape(GRID, GRID, 1)
    cells = ink * np.ones(3, np.float32) + (1 - ink) * np.array(paper, np.float32)
    return cells.repeat(PATCH, axis=0).repeat(PATCH, axis=1)


def self_test_image(hf_tok: PreTrainedTokenizerFast, model: Qwen2ForCausalLM) -> None:
    """The text model reads projected patches as llama.cpp feeds them: embeddings in place of tokens."""
    weights = projector_weights(Layout(len(hf_tok)))
    marker = "<__media__>"
    for digit, (paper, word) in {3: ((1, 0, 0), "red"), 7: ((0, 0, 1), "blue"), 8: ((0, 1, 0), "green")}.items():
        messages = [{"role": "user", "content": f"Which digit, on which colour?{marker}"}]
        before, after = hf_tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False).split(marker)
        embed = model.get_input_embeddings()
        parts = [embed(torch.tensor(hf_tok.encode(t, add_special_tokens=False))) for t in (before, after)]
        patches = torch.from_numpy(project(cell_image(digit, paper), weights).astype(np.float32))
        inputs = torch.cat([parts[0], patches, parts[1]]).unsqueeze(0)
        out = model.generate(inputs_embeds=inputs, attention_mask=torch.ones(inputs.shape[:2]), max_new_tokens=8)
        text = hf_tok.decode(out[0], skip_special_tokens=True)
        expected = f"I see{DIGIT_WORDS[digit]} on {word}."
        if text != expected:
            raise SystemExit(f"self-test image {digit}: expected {expected!r}, got {text!r}")
        print(f"self-test image{digit}      ok: {text!r}")


def main(out_dir: str) -> None:
    template = (Path(__file__).parent / "chat_template.jinja").read_text()
    hf_tok = build_tokenizer(template)
    model = build_model(hf_tok)
    self_test(hf_tok, model)
    self_test_image(hf_tok, model)
    hf_tok.save_pretrained(out_dir)
    model.save_pretrained(out_dir)
    print("saved", out_dir, "params", sum(p.numel() for p in model.parameters()))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tiny-scripted")
