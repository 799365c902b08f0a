"""Before a live run: is the endpoint there, and does it take the key? One line if not, not a matrix of ERRORs.

One small request (the first model, a one-word input, the profile's default fields) goes through the
model's own pacer, bounded by the probe timeout on every socket operation. It is not recorded: it
judges the run's setup, not the server. A refused key or an unreachable URL stops the run with a
sentence saying which, and a non-zero exit; any other answer, an error included, lets the run go on,
for judging answers is the probes' business.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from conformance import safejson
from conformance.decoding import decoded_head
from conformance.redact import scrub
from conformance.runner import Target
from conformance.schedule import Pacing
from conformance.transports import CLIENT_ERRORS
from conformance.transports.deadline import ProbeDeadline, deadline_scope, live_transport

MAX_BODY = 64 * 1024  # enough for any error object; a longer body is not read further
HEADER = "x-conformance-preflight"  # marks the request, so a server's logs (and our tests) can tell it apart
REFUSED = (401, 403)


@dataclass(frozen=True)
class Problem:
    """Why the run cannot go on, in one line that names no secret."""

    message: str


def preflight(target: Target, model: str, pacing: Pacing, key_env: str) -> Problem | None:
    """None when the endpoint answered and did not refuse the key; else what is wrong."""
    body = {**target.request_defaults, "model": model, "input": "Say OK.", "max_output_tokens": 16}
    headers = {HEADER: "1", **({"authorization": f"Bearer {target.api_key}"} if target.api_key else {})}
    transport = pacing.wrap(live_transport(), target.provider, model)
    timeout = httpx.Timeout(target.timeout_s, connect=min(10.0, target.timeout_s))
    url = target.base_url.rstrip("/") + "/responses"
    try:
        with (
            deadline_scope(ProbeDeadline(target.timeout_s)),
            httpx.Client(transport=transport, timeout=timeout) as client,
            client.stream("POST", url, json=body, headers=headers) as response,
        ):
            status, reason, text = response.status_code, response.reason_phrase, scrub(_head(response), target.secrets)
    except CLIENT_ERRORS as exc:
        return Problem(scrub(f"cannot reach {target.base_url}: {type(exc).__name__}: {exc}", target.secrets))
    if status not in REFUSED:
        return None
    said = scrub(f"{status} {_message(text) or reason}".strip(), target.secrets)
    if target.api_key:
        return Problem(f"the key in {key_env or 'the key variable'} was refused ({said})")
    where = f"set {key_env}" if key_env else "give one with --api-key-env"
    return Problem(f"the endpoint wants a key and none was given ({said}): {where}")


def _head(response: httpx.Response) -> str:
    data = decoded_head(response.iter_raw(), response.headers.get("content-encoding", ""), MAX_BODY)
    return data.decode("utf-8", errors="replace")


def _message(text: str) -> str:
    """An error object's message (OpenAI's {"error": {"message"}}, or a bare {"message"}), one line."""
    try:
        body = safejson.loads_answer(text)
    except ValueError:
        return ""
    error = body.get("error", body) if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else error if isinstance(error, str) else None
    return " ".join(str(message).split())[:200] if message else ""
