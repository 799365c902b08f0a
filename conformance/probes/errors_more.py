"""More error probes: a bad key, a body over the size cap, wrong field types, unknown fields, empty input.

Same contract as conformance/probes/errors.py: a clean 4xx with an OpenAI error object is PASS; a
server that serves the request anyway is IGNORED (a peer that checks no key serves the bad key).
"""

from __future__ import annotations

from conformance.checks.errors import rejected_with
from conformance.probes.base import Expect, Probe, Request, single

BAD_KEY = "sk-conformance-invalid-key"
BODY_CAP_BYTES = 2 * 1024 * 1024  # OVHcloud's documented cap on request bodies
OVERSIZED_WORDS = (BODY_CAP_BYTES + BODY_CAP_BYTES // 4) // len("hello ")  # ~2.5 MB of words, cheap to tokenise


def _oversized(model: str) -> Request:
    return Request({"model": model, "input": "hello " * OVERSIZED_WORDS})


PROBES = (
    Probe(
        "errors.bad_key",
        "errors",
        "an invalid API key gets 401 (or 403, as OVHcloud documents for a revoked key) and an error object",
        single(lambda model: Request({"model": model, "input": "Say hello."}, api_key=BAD_KEY)),
        (rejected_with(401, 403),),
        Expect.REJECTED,
    ),
    Probe(
        "errors.body_over_cap",
        "errors",
        "a ~2.5 MB body, over the 2 MB cap, gets 413 (or 400) and an error object",
        single(_oversized),
        (rejected_with(413, 400),),
        Expect.REJECTED,
    ),
    Probe(
        "errors.temperature_type",
        "errors",
        "`temperature` of the wrong type (a string) gets 400 and an error object",
        single(lambda model: Request({"model": model, "input": "Say hello.", "temperature": "hot"})),
        (rejected_with(400),),
        Expect.REJECTED,
    ),
    Probe(
        "errors.unknown_parameter",
        "errors",
        "an unknown top-level parameter gets 400 and an error object",
        single(lambda model: Request({"model": model, "input": "Say hello.", "conformance_unknown_parameter": True})),
        (rejected_with(400),),
        Expect.REJECTED,
    ),
    Probe(
        "errors.empty_input",
        "errors",
        "`input` as an empty list gets 400 and an error object",
        single(lambda model: Request({"model": model, "input": []})),
        (rejected_with(400),),
        Expect.REJECTED,
    ),
)
