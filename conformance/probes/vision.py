"""Vision probes: `input_image` parts, with an image the suite draws itself so the right answer is known.

The image is a white digit on a red background, encoded as PNG here (zlib and struct, no imaging
library), so no file ships with the suite and a model cannot have memorised it. A text-only model
that rejects images with a clean 4xx is UNSUPPORTED, as the verdict decides for any clean rejection.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Generator, Sequence
from functools import cache
from typing import Any

from conformance.checks.core import RESPONSE_CHECKS
from conformance.checks.vision import names
from conformance.evidence import Exchange
from conformance.probes.base import Probe, Request, single

Colour = tuple[int, int, int]
RED: Colour = (255, 0, 0)
WHITE: Colour = (255, 255, 255)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# A 5x7 bitmap font: one string per row, "1" is ink.
FONT: dict[str, tuple[str, ...]] = {
    "0": ("01110", "10001", "10011", "10101", "11001", "10001", "01110"),
    "1": ("00100", "01100", "00100", "00100", "00100", "00100", "01110"),
    "2": ("01110", "10001", "00001", "00010", "00100", "01000", "11111"),
    "3": ("01110", "10001", "00001", "00110", "00001", "10001", "01110"),
    "4": ("00010", "00110", "01010", "10010", "11111", "00010", "00010"),
    "5": ("11111", "10000", "11110", "00001", "00001", "10001", "01110"),
    "6": ("00110", "01000", "10000", "11110", "10001", "10001", "01110"),
    "7": ("11111", "00001", "00010", "00100", "01000", "01000", "01000"),
    "8": ("01110", "10001", "10001", "01110", "10001", "10001", "01110"),
    "9": ("01110", "10001", "10001", "01111", "00001", "00010", "01100"),
}
DIGIT, DIGIT_WORD, COLOUR_WORD = "3", "three", "red"
QUESTION = (
    "The image shows a single digit on a plain background. Which digit is it, and what colour is the "
    "background? Answer in a few words."
)
# The image of OpenAI's own vision guide: a wooden boardwalk through green grass under a blue sky.
REMOTE_URL = (
    "https://upload.wikimedia.org/wikipedia/commons/thumb/d/dd/Gfp-wisconsin-madison-the-nature-boardwalk.jpg/"
    "2560px-Gfp-wisconsin-madison-the-nature-boardwalk.jpg"
)
REMOTE_WORDS = (
    "boardwalk",
    "path",
    "walkway",
    "trail",
    "grass",
    "grassy",
    "field",
    "meadow",
    "marsh",
    "wetland",
    "prairie",
)
DETAILS = ("low", "high", "auto")


def png(width: int, height: int, rows: Sequence[bytes]) -> bytes:
    """An 8-bit RGB PNG of `rows` (3 bytes per pixel), each row unfiltered, in one IDAT chunk."""
    if len(rows) != height or any(len(row) != 3 * width for row in rows):
        raise ValueError(f"expected {height} rows of {3 * width} bytes")

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # depth 8, RGB, deflate, no filter, no interlace
    pixels = zlib.compress(b"".join(b"\x00" + row for row in rows), 9)
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def digit_png(digit: str, ink: Colour = WHITE, paper: Colour = RED, scale: int = 24, margin: int = 2) -> bytes:
    """A square PNG of one FONT digit, each font pixel `scale` px wide, centred with `margin` font pixels around."""
    glyph = FONT[digit]
    columns, lines = len(glyph[0]), len(glyph)
    size = (max(columns, lines) + 2 * margin) * scale
    left, top = (size - columns * scale) // 2, (size - lines * scale) // 2
    ink_px, paper_px = bytes(ink), bytes(paper)
    blank = paper_px * size
    glyph_rows = [
        paper_px * left
        + b"".join((ink_px if bit == "1" else paper_px) * scale for bit in line)
        + paper_px * (size - left - columns * scale)
        for line in glyph
    ]
    rows = [glyph_rows[(y - top) // scale] if top <= y < top + lines * scale else blank for y in range(size)]
    return png(size, size, rows)


def data_url(image: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(image).decode('ascii')}"


@cache
def digit_url() -> str:
    """The probes' image, drawn once per process."""
    return data_url(digit_png(DIGIT))


def image_input(image_url: str, question: str = QUESTION, **image: Any) -> list[dict[str, Any]]:
    """One user message: the question, then the image (with any extra input_image fields, e.g. detail)."""
    parts = [{"type": "input_text", "text": question}, {"type": "input_image", "image_url": image_url, **image}]
    return [{"role": "user", "content": parts}]


def mixed_input(image_url: str) -> list[dict[str, Any]]:
    """One user message whose parts interleave text and the image, as chat UIs build them."""
    parts = [
        {"type": "input_text", "text": "Here is an image."},
        {"type": "input_image", "image_url": image_url},
        {"type": "input_text", "text": QUESTION},
    ]
    return [{"role": "user", "content": parts}]


def _each_detail(model: str) -> Generator[Request, Exchange, None]:
    for detail in DETAILS:
        yield Request({"model": model, "input": image_input(digit_url(), detail=detail)})


NAMES_DIGIT = names((COLOUR_WORD,), (DIGIT, DIGIT_WORD))

PROBES = (
    Probe(
        "vision.base64_png",
        "vision",
        "a generated PNG (white 3 on red) as a base64 data URL: the answer names red and 3",
        single(lambda model: Request({"model": model, "input": image_input(digit_url())})),
        (*RESPONSE_CHECKS, NAMES_DIGIT),
    ),
    Probe(
        "vision.detail",
        "vision",
        "`detail` low, high, then auto on the generated PNG: each accepted, and the image still read",
        _each_detail,
        (*RESPONSE_CHECKS, NAMES_DIGIT),
    ),
    Probe(
        "vision.mixed_parts",
        "vision",
        "one message of text, image, text parts: the image between two questions is still read",
        single(lambda model: Request({"model": model, "input": mixed_input(digit_url())})),
        (*RESPONSE_CHECKS, NAMES_DIGIT),
    ),
    Probe(
        "vision.remote_url",
        "vision",
        "an https image URL (OVHcloud documents a clean 4xx); if served, the answer describes the boardwalk photo",
        single(
            lambda model: Request(
                {"model": model, "input": image_input(REMOTE_URL, "Describe this photo in one sentence.")}
            )
        ),
        (*RESPONSE_CHECKS, names(REMOTE_WORDS)),
    ),
)
