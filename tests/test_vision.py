"""Vision: the suite's own PNG encoder, decoded back by hand, and the checks on hand-made exchanges."""

from __future__ import annotations

import base64
import dataclasses
import struct
import zlib

import pytest

import conformance.checks.vision
from conformance.checks import run_checks
from conformance.checks.vision import names
from conformance.evidence import Exchange, Finding, Status
from conformance.probes import vision
from conformance.probes.base import Probe
from conformance.runner import judge
from tests.exchanges import conformant_response, error_exchange, json_exchange
from tests.rulecases import Case, assert_fires, checked, declared_in, judged

Pixel = tuple[int, int, int]


def decode_png(data: bytes) -> tuple[int, int, list[list[Pixel]]]:
    """Width, height and pixels of an 8-bit RGB PNG with unfiltered rows: just enough to read ours back."""
    assert data[:8] == vision.PNG_SIGNATURE
    at, chunks = 8, []
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC on {kind!r}"
        chunks.append((kind, body))
        at += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour) == (8, 2)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = 1 + 3 * width
    rows = [raw[y * stride : (y + 1) * stride] for y in range(height)]
    assert len(raw) == stride * height and all(row[0] == 0 for row in rows)
    return width, height, [[(row[1 + 3 * x], row[2 + 3 * x], row[3 + 3 * x]) for x in range(width)] for row in rows]


def test_png_round_trips_a_tiny_image() -> None:
    rows = [bytes([255, 0, 0, 0, 255, 0]), bytes([0, 0, 255, 9, 9, 9])]
    assert decode_png(vision.png(2, 2, rows)) == (2, 2, [[(255, 0, 0), (0, 255, 0)], [(0, 0, 255), (9, 9, 9)]])


def test_png_refuses_rows_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="expected 1 rows of 6 bytes"):
        vision.png(2, 1, [b"\x00" * 5])


def test_every_glyph_is_a_5x7_bitmap() -> None:
    assert sorted(vision.FONT) == list("0123456789")
    assert all(
        len(g) == 7 and all(len(line) == 5 and set(line) <= {"0", "1"} for line in g) for g in vision.FONT.values()
    )


@pytest.mark.parametrize("digit", sorted(vision.FONT))
def test_the_drawn_digit_matches_its_glyph_on_red(digit: str) -> None:
    scale, margin = 4, 2
    width, height, pixels = decode_png(vision.digit_png(digit, scale=scale, margin=margin))
    assert width == height == (7 + 2 * margin) * scale
    left = (width - 5 * scale) // 2
    for gy, line in enumerate(vision.FONT[digit]):
        for gx, bit in enumerate(line):
            centre = pixels[margin * scale + gy * scale + scale // 2][left + gx * scale + scale // 2]
            assert centre == (vision.WHITE if bit == "1" else vision.RED), (gx, gy)
    border = pixels[0] + pixels[-1] + [row[0] for row in pixels] + [row[-1] for row in pixels]
    assert set(border) == {vision.RED}


def test_the_probe_image_is_a_base64_png_data_url() -> None:
    prefix = "data:image/png;base64,"
    url = vision.digit_url()
    assert url.startswith(prefix)
    width, _, pixels = decode_png(base64.b64decode(url[len(prefix) :]))
    assert width == 264 and pixels[0][0] == vision.RED
    assert len(url) < 4000  # a solid image compresses: the probe stays cheap


def answer(text: str) -> Exchange:
    return json_exchange(conformant_response(text))


CASES = [
    Case(
        "vision.names_image",
        "no colour",
        checked([vision.NAMES_DIGIT], answer("The digit is 3.")),
        "expected the answer to name 'red', got 'The digit is 3.'",
    ),
    Case(
        "vision.names_image",
        "digit inside a number",
        checked([vision.NAMES_DIGIT], answer("A red square with 13 on it.")),
        "expected the answer to name '3' or 'three'",
    ),
    Case(
        "vision.names_image",
        "cannot see",
        checked([names(vision.REMOTE_WORDS)], answer("I cannot see images.")),
        "expected the answer to name 'boardwalk' or 'path'",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_broken_exchange_fires_its_rule(case: Case) -> None:
    assert_fires(case)


def test_every_vision_rule_has_a_case() -> None:
    assert declared_in(conformance.checks.vision) == {case.rule for case in CASES}


@pytest.mark.parametrize(
    "text", ["Three, on a red background.", "RED; the digit 3", "The background is red and the digit is **3**."]
)
def test_spellings_of_the_right_answer_pass(text: str) -> None:
    assert run_checks([vision.NAMES_DIGIT], [answer(text)]) == []


def test_names_survives_odd_bodies() -> None:
    odd = dataclasses.replace(answer("x"), body='{"output": 3}')
    assert [f.rule for f in run_checks([vision.NAMES_DIGIT], [odd])] == ["vision.names_image", "vision.names_image"]


SEEN = {"vision.remote_url": "A wooden boardwalk through green grass under a blue sky."}


def served(probe: Probe, text: str) -> list[Exchange]:
    """One answer with `text` per request of the probe's script (vision scripts never read answers)."""
    return [answer(text) for _ in probe.script("test-model")]


def verdict_of(judgement: tuple[Status, list[Finding]]) -> tuple[Status, list[Finding]]:
    return judgement[0], judged(judgement[1])


@pytest.mark.parametrize("probe", vision.PROBES, ids=lambda p: p.id)
def test_a_seeing_model_passes_a_blind_one_is_ignored_a_text_model_is_unsupported(probe: Probe) -> None:
    seeing = served(probe, SEEN.get(probe.id, "A white 3 on a red background."))
    blind = served(probe, "I cannot see any image.")
    text_only = [
        error_exchange(
            400,
            {
                "message": "image input is not supported",
                "type": "invalid_request_error",
                "param": "input",
                "code": None,
            },
        )
    ]
    assert verdict_of(judge(probe, seeing, semantic=True)) == (Status.PASS, [])
    assert judge(probe, blind, semantic=True)[0] is Status.IGNORED
    assert verdict_of(judge(probe, blind, semantic=False)) == (Status.PASS, [])
    status, findings = judge(probe, text_only, semantic=True)
    assert (status, findings[0].rule) == (Status.UNSUPPORTED, "http.rejection")
    assert judged(findings) == []


def test_detail_sends_low_high_auto_on_the_same_image() -> None:
    script = next(p for p in vision.PROBES if p.id == "vision.detail").script("test-model")
    images = [request.body["input"][0]["content"][1] for request in script if request.body is not None]
    assert [i["detail"] for i in images] == ["low", "high", "auto"]
    assert {i["image_url"] for i in images} == {vision.digit_url()}
