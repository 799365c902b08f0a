"""Build a tiny, deterministic Qwen2 chat model whose weights are set by hand.

No training and no download: the suite needs a model whose every answer is known in advance, so that
the real servers it serves through (llama.cpp's llama-server, `transformers serve`) can be judged on
their protocol, not on a model's whims.

How it works (greedy decoding):
- the chat template writes a *mode marker* token at the start of the prompt, chosen from the
  conversation (tools offered, "json" asked for, thinking asked for);
- one attention layer copies that marker into the last position;
- `lm_head` is a bigram table that walks one fixed script per mode.

Scripted behaviour, first match wins:
- tools are offered and the last message is the user's -> a `get_weather` tool call for Paris;
- the last user message mentions "json"                -> `{"name": "Ada", "age": 36}`;
- a reasoning effort is set, or the last user message mentions "think"
                                                       -> `<think>Thinking about the answer...</think>`
                                                          then the text script;
- otherwise                                            -> `Hello! This is a tiny test model.`

Usage: make_model.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|mode_tools|>", "<|mode_json|>", "<|mode_think|>"]
TOOL_CALL_JSON = '\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
SCRIPTS: dict[str, list[str]] = {
    "text": ["Hello", "!", " This", " is", " a", " tiny", " test", " model", "."],
    "think": ["<think>", "Thinking", " about", " the", " answer", "...", "</think>"],
    "tools": ["<tool_call>", TOOL_CALL_JSON, "</tool_call>"],
    "json": ['{"name": "Ada", "age": 36}'],
}
TAG_PIECES = ("<think>", "</think>", "<tool_call>", "</tool_call>")
MODES = ("tools", "json", "think")

# Jinja prefix that picks the mode marker; llama.cpp passes `reasoning_effort` from `reasoning.effort`.
MODE_PREFIX = (
    "{%- set _last = messages[-1] if messages else {} %}"
    "{%- set ns = namespace(txt='') %}"
    "{%- if _last.content is string %}{%- set ns.txt = _last.content %}"
    "{%- elif _last.content %}{%- for c in _last.content %}{%- if c.text is defined and c.text %}"
    "{%- set ns.txt = ns.txt ~ ' ' ~ c.text %}{%- endif %}{%- endfor %}{%- endif %}"
    "{%- set _txt = ns.txt | lower %}"
    "{%- set _effort = reasoning_effort if (reasoning_effort is defined and reasoning_effort) else 'none' %}"
    "{%- if tools and _last.role == 'user' %}<|mode_tools|>"
    "{%- elif _last.role == 'user' and 'json' in _txt %}<|mode_json|>"
    "{%- elif _effort != 'none' or (_last.role == 'user' and 'think' in _txt) %}<|mode_think|>"
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
    tok.add_tokens([AddedToken(p, normalized=False, special=False) for p in plain])
    tok.add_tokens([AddedToken(p, normalized=False, special=False) for p in TAG_PIECES])
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    hf_tok.chat_template = MODE_PREFIX + template
    return hf_tok


def single_token(hf_tok: PreTrainedTokenizerFast, piece: str) -> int:
    ids = hf_tok.encode(piece, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"script piece {piece!r} must be one token, got {ids}")
    return ids[0]


def build_model(hf_tok: PreTrainedTokenizerFast) -> Qwen2ForCausalLM:
    """Set every weight by hand; see the module docstring for the mechanism."""
    vocab = len(hf_tok)
    mode_dim = {m: vocab + i for i, m in enumerate(MODES)}  # residual dims carrying the mode
    hidden = ((vocab + len(MODES) + 31) // 32) * 32
    head_dim = 32  # the signal lives in dim head_dim//2-1: lowest rotary frequency, so ~no rotation
    eos = hf_tok.convert_tokens_to_ids("<|im_end|>")
    newline = single_token(hf_tok, "\n")
    markers = {m: hf_tok.convert_tokens_to_ids(f"<|mode_{m}|>") for m in MODES}
    tid = lambda piece: single_token(hf_tok, piece)  # noqa: E731

    cfg = Qwen2Config(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=hidden // head_dim, num_key_value_heads=1, head_dim=head_dim,
        max_position_embeddings=32768, rope_parameters={"rope_theta": 1e6, "rope_type": "default"},
        rms_norm_eps=1e-6, eos_token_id=eos, pad_token_id=hf_tok.pad_token_id, bos_token_id=None,
        tie_word_embeddings=False,
    )
    model = Qwen2ForCausalLM(cfg)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.fill_(1.0 if name.endswith("norm.weight") else 0.0)
        model.model.embed_tokens.weight[torch.arange(vocab), torch.arange(vocab)] = 1.0
        att = model.model.layers[0].self_attn
        scale = hidden**-0.5  # input_layernorm scales a one-hot vector to sqrt(hidden)
        d = head_dim // 2 - 1
        att.q_proj.bias[d] = 1.0
        for i, mode in enumerate(MODES):
            att.k_proj.weight[d, markers[mode]] = 600.0 * scale
            att.v_proj.weight[i, markers[mode]] = scale
            att.o_proj.weight[mode_dim[mode], i] = 1.0
        table = model.lm_head.weight
        first_text = tid(SCRIPTS["text"][0])
        table[first_text, :vocab] = 3.0  # an unknown last token starts the text script
        table[first_text, newline] = 10.5
        for mode in MODES:
            table[tid(SCRIPTS[mode][0]), newline] = 10.0
            table[tid(SCRIPTS[mode][0]), mode_dim[mode]] = 5.0

        def chain(script: list[str], end: int) -> None:
            for here, after in zip(script, [tid(p) for p in script[1:]] + [end]):
                table[:, tid(here)] = 0.0
                table[after, tid(here)] = 10.0

        chain(SCRIPTS["text"], eos)
        chain(SCRIPTS["tools"], eos)
        chain(SCRIPTS["json"], eos)
        chain(SCRIPTS["think"], first_text)
    model.generation_config = GenerationConfig(
        eos_token_id=eos, pad_token_id=cfg.pad_token_id, do_sample=False, max_new_tokens=64
    )
    return model


def self_test(hf_tok: PreTrainedTokenizerFast, model: Qwen2ForCausalLM) -> None:
    """Fail the build if any scripted path does not produce its script."""
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    cases = {
        "text": ([{"role": "user", "content": "Say hello"}], None, "Hello! This is a tiny test model."),
        "tools": ([{"role": "user", "content": "Weather in Paris?"}], tools, "<tool_call>"),
        "json": ([{"role": "user", "content": "Reply in JSON please"}], None, '{"name": "Ada", "age": 36}'),
        "think": (
            [{"role": "system", "content": "sys"}, {"role": "user", "content": "Think first"}],
            None,
            "<think>Thinking about the answer...</think>Hello!",
        ),
    }
    for name, (messages, tool_list, expected) in cases.items():
        enc = hf_tok.apply_chat_template(
            messages, tools=tool_list, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        out = model.generate(**enc, max_new_tokens=24)
        text = hf_tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        if not text.startswith(expected):
            raise SystemExit(f"self-test {name}: expected {expected!r}..., got {text!r}")
        print(f"self-test {name:6s} ok: {text!r}")


def main(out_dir: str) -> None:
    template = (Path(__file__).parent / "chat_template.jinja").read_text()
    hf_tok = build_tokenizer(template)
    model = build_model(hf_tok)
    self_test(hf_tok, model)
    hf_tok.save_pretrained(out_dir)
    model.save_pretrained(out_dir)
    print("saved", out_dir, "params", sum(p.numel() for p in model.parameters()))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tiny-scripted")
