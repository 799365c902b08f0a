"""A fault-injection HTTP server: a TEST FIXTURE that misbehaves on purpose, never a peer to trust.

The suite promises never to crash, hang, leak a key or lose a result, whatever a server does; this
server is how its tests prove it. It listens on 127.0.0.1 (a free port), speaks just enough HTTP/1.1
over raw sockets to break it at the byte level, and closes every connection after one answer.

Choosing a fault: the request's JSON body names the model `fault:<name>`, `<name>` a key of FAULTS,
optionally followed by `#<anything>` so that several "models" can share one fault (`fault:slow#2`).
So one base URL serves many broken models, and `conformance run --model fault:a --model fault:b` is
a run against several of them. Any other model, or a body that is not JSON, gets `normal`; an
unknown fault name gets a 404 error object listing the known ones; `GET .../models` lists them all.
Faults that answer well-formed content give a JSON Response or an event stream, as the request's
`stream` asks; the others answer the same way whatever was asked.

Every wait is bounded: an endless fault stops when the client hangs up, when the server stops, or
HOLD_S seconds after the request, whichever comes first.
"""

from __future__ import annotations

import base64
import json
import select
import socket
import socketserver
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from http import HTTPStatus
from typing import Any, Self

from openai.types.responses import Response

HOLD_S = 8.0  # the longest any fault keeps a connection, whatever the client does
DRIP_S = 0.2  # one byte per DRIP_S for the drip faults
EVENT_GAP_S = 0.01  # between stream events, so arrival times differ as a live stream's do
SLOW_S = 1.0  # the `slow` fault's pause before a normal answer
CHUNK = 64 * 1024
HUGE_BYTES = 40 * 1024 * 1024  # far above the runner's MAX_BODY_BYTES (4 MiB)
HUGE_LINE = 17 * 1024 * 1024  # above the SSE parser's line cap (16 MiB)
MAX_REQUEST = 1024 * 1024
TEXT = "Hello! How can I help you today?"


@dataclass(frozen=True)
class Req:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def model(self) -> str:
        body = self.payload
        model = body.get("model") if isinstance(body, dict) else None
        return model if isinstance(model, str) else ""

    @property
    def stream(self) -> bool:
        body = self.payload
        return isinstance(body, dict) and body.get("stream") is True

    @property
    def fault(self) -> str:
        if not self.model.startswith("fault:"):
            return "normal"
        return self.model.removeprefix("fault:").partition("#")[0]

    @property
    def key(self) -> str:
        """The API key the client sent (what the key-echoing faults give back)."""
        return self.headers.get("authorization", "").removeprefix("Bearer ").strip()


class Conn:
    """One accepted connection; every wait on it ends by HOLD_S after the request at the latest."""

    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self.sock = sock
        self.stop = stop
        self.until = time.monotonic() + HOLD_S

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def head(self, status: int, headers: Sequence[tuple[str, str]] = ()) -> None:
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Unknown"
        lines = [f"HTTP/1.1 {status} {phrase}"]
        lines += [f"{name}: {value}" for name, value in headers]
        lines += ["Connection: close", "", ""]
        self.send("\r\n".join(lines).encode("latin-1"))

    def answer(
        self, status: int, body: bytes, content_type: str = "application/json", headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        self.head(status, [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers])
        self.send(body)

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; False once the client hung up, the server stops or HOLD_S passed."""
        end = min(time.monotonic() + seconds, self.until)
        while not self.stop.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return time.monotonic() < self.until
            readable, _, _ = select.select([self.sock], [], [], min(left, DRIP_S))
            if readable:
                try:
                    if not self.sock.recv(1, socket.MSG_PEEK):
                        return False
                except OSError:
                    return False
                self.stop.wait(min(left, DRIP_S))
        return False

    def drip(self, data: bytes) -> None:
        for i in range(len(data)):
            if not self.wait(DRIP_S):
                return
            self.send(data[i : i + 1])

    def reset(self) -> None:
        """Close with SO_LINGER 0, so the peer gets a TCP RST instead of an orderly end."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


Fault = Callable[[Conn, Req], None]
FAULTS: dict[str, Fault] = {}


def fault(name: str) -> Callable[[Fault], Fault]:
    def register(fn: Fault) -> Fault:
        FAULTS[name] = fn
        return fn

    return register


# --- well-formed content ---------------------------------------------------------------------------


def response_object(model: str, text: str, status: str = "completed") -> dict[str, Any]:
    """A Response with every field the SDK lists, so a well-behaved answer is a PASS."""
    message = {
        "id": "msg_fault",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "phase": None,
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }
    usage = {
        "input_tokens": 5,
        "output_tokens": 9,
        "total_tokens": 14,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }
    body: dict[str, Any] = dict.fromkeys(Response.model_fields)
    body.update(
        id="resp_fault",
        object="response",
        created_at=1700000000,
        model=model,
        status=status,
        output=[message] if status == "completed" else [],
        parallel_tool_calls=True,
        tool_choice="auto",
        tools=[],
        metadata={},
        usage=usage if status == "completed" else None,
    )
    return body


def stream_events(model: str, text: str) -> list[dict[str, Any]]:
    """The events of a well-formed text stream, numbered from 0."""
    item = {"id": "msg_fault", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    ids = {"item_id": "msg_fault", "output_index": 0, "content_index": 0}
    words = [w + " " for w in text.split(" ")]
    words[-1] = words[-1].rstrip(" ")
    done_item = response_object(model, text)["output"][0]
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": response_object(model, "", "in_progress")},
        {"type": "response.in_progress", "response": response_object(model, "", "in_progress")},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.content_part.added", **ids, "part": part},
        *({"type": "response.output_text.delta", **ids, "delta": w, "logprobs": []} for w in words),
        {"type": "response.output_text.done", **ids, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **ids, "part": {**part, "text": text}},
        {"type": "response.output_item.done", "output_index": 0, "item": done_item},
        {"type": "response.completed", "response": response_object(model, text)},
    ]
    return renumber(events)


def renumber(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**e, "sequence_number": i} for i, e in enumerate(events)]


def frame(event: dict[str, Any], eol: str = "\n") -> bytes:
    return f"event: {event['type']}{eol}data: {json.dumps(event)}{eol}{eol}".encode()


def sse_head(c: Conn, headers: Sequence[tuple[str, str]] = ()) -> None:
    """A stream's head: no Content-Length, so the body runs until the connection closes."""
    c.head(200, [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"), *headers])


def send_stream(c: Conn, frames: Iterable[bytes], headers: Sequence[tuple[str, str]] = ()) -> None:
    sse_head(c, headers=headers)
    for data in frames:
        if not c.wait(EVENT_GAP_S):
            return
        c.send(data)


def normal(c: Conn, r: Req, text: str = TEXT, headers: Sequence[tuple[str, str]] = ()) -> None:
    if r.stream:
        send_stream(c, [frame(e) for e in stream_events(r.model, text)], headers)
    else:
        c.answer(200, json.dumps(response_object(r.model, text)).encode(), headers=headers)


def error_body(message: str, type_: str = "invalid_request_error", code: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}}).encode()


def gzip_bytes(chunks: Iterable[bytes]) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip container
    return b"".join(packer.compress(c) for c in chunks) + packer.flush()


@cache
def gzip_bomb() -> bytes:
    """HUGE_BYTES of zeros, gzip-compressed to some 40 KB; built once, from 1 MiB pieces."""
    return gzip_bytes([bytes(1024 * 1024)] * (HUGE_BYTES // (1024 * 1024)))


# --- faults: answers that are fine --------------------------------------------------------------------

fault("normal")(normal)


@fault("slow")
def _slow(c: Conn, r: Req) -> None:
    """A correct answer after SLOW_S: a cell that is reliably still running when a test interrupts."""
    if c.wait(SLOW_S):
        normal(c, r)


@fault("script_text")
def _script_text(c: Conn, r: Req) -> None:
    """Markup in the model's answer: valid, and every report must show it as text."""
    normal(c, r, "<script>alert('fault')</script> <img src=x onerror=alert(1)>")


@fault("line_separators")
def _line_separators(c: Conn, r: Req) -> None:
    """U+2028, U+2029 and U+0085 sent raw, as JSON allows: valid, and no file written line by line may break at them."""
    text = "one\u2028two\u2029three\x85four"
    if r.stream:
        events = stream_events(r.model, text)
        send_stream(c, [f"event: {e['type']}\ndata: {json.dumps(e, ensure_ascii=False)}\n\n".encode() for e in events])
    else:
        c.answer(200, json.dumps(response_object(r.model, text), ensure_ascii=False).encode())


@fault("surrogate_text")
def _surrogate_text(c: Conn, r: Req) -> None:
    """A lone surrogate escaped in the answer's text (`"\\ud800"`): valid JSON, but no Unicode text holds it."""
    lone = "\\ud800 lone"
    if r.stream:
        frames = [frame(e) for e in stream_events(r.model, "Hello there")]
        frames[4] = frames[4].replace(b'"delta": "Hello "', f'"delta": "{lone}"'.encode())
        send_stream(c, frames)
    else:
        c.answer(200, json.dumps(response_object(r.model, "X")).replace('"text": "X"', f'"text": "{lone}"').encode())


@fault("surrogate_error")
def _surrogate_error(c: Conn, r: Req) -> None:
    """A refusal whose message escapes a lone surrogate."""
    c.answer(
        400,
        b'{"error": {"message": "bad \\ud800 thing", "type": "invalid_request_error", "param": null, "code": null}}',
    )


@fault("sse_cr_only")
def _sse_cr_only(c: Conn, r: Req) -> None:
    """Lines ended by a lone CR: valid event-stream framing that a naive `\\n` split gets wrong."""
    send_stream(c, [frame(e, "\r") for e in stream_events(r.model, TEXT)])


@fault("sse_crlf")
def _sse_crlf(c: Conn, r: Req) -> None:
    send_stream(c, [frame(e, "\r\n") for e in stream_events(r.model, TEXT)])


@fault("sse_split_bytes")
def _sse_split_bytes(c: Conn, r: Req) -> None:
    """A valid stream cut into 7-byte writes, splitting lines and UTF-8 sequences across reads."""
    data = b"".join(frame(e) for e in stream_events(r.model, "Grüße, 世界! Hello."))
    sse_head(c)
    for i in range(0, len(data), 7):
        if i % 700 == 0 and not c.wait(EVENT_GAP_S):
            return
        c.send(data[i : i + 7])


# --- faults: the key comes back (for the canary test) ----------------------------------------------------


@fault("echo_key_headers")
def _echo_key_headers(c: Conn, r: Req) -> None:
    """A correct answer whose headers carry the key: as sent, bare, in a URL, and as a header name."""
    normal(
        c,
        r,
        headers=[
            ("X-Echo-Authorization", r.headers.get("authorization", "")),
            ("X-Debug", f"key={r.key}"),
            ("Link", f"<http://127.0.0.1/next?api_key={r.key}>; rel=next"),
            (f"X-Seen-{r.key}", "1"),
        ],
    )


@fault("echo_key_body")
def _echo_key_body(c: Conn, r: Req) -> None:
    """The key in the answer's text, and in a stream also in `id:` and comment lines."""
    text = f"You sent {r.headers.get('authorization', '')} and the bare key {r.key}."
    if not r.stream:
        normal(c, r, text)
        return
    frames = [frame(e) for e in stream_events(r.model, text)]
    frames[2] = f": debug {r.key}\nid: {r.key}\n".encode() + frames[2]
    send_stream(c, frames)


@fault("echo_key_error")
def _echo_key_error(c: Conn, r: Req) -> None:
    """A 401 whose error message quotes the key, as some gateways do."""
    c.answer(401, error_body(f"Incorrect API key provided: {r.key}. Header was {r.headers.get('authorization')}"))


@fault("echo_key_redirect")
def _echo_key_redirect(c: Conn, r: Req) -> None:
    """A redirect whose Location carries the key in its query string."""
    c.answer(302, b"", headers=[("Location", f"{r.target}?api_key={r.key}&auth=Bearer%20{r.key}")])


@fault("echo_key_gzip")
def _echo_key_gzip(c: Conn, r: Req) -> None:
    """The key in a gzip-encoded body: a recorder that scrubs raw bytes cannot see it."""
    body = json.dumps(response_object(r.model, f"Your key is {r.key}.")).encode()
    c.answer(200, gzip_bytes([body]), headers=[("Content-Encoding", "gzip")])


# --- faults: broken JSON answers ------------------------------------------------------------------------


@fault("empty_200")
def _empty_200(c: Conn, r: Req) -> None:
    c.answer(200, b"")


@fault("html_200")
def _html_200(c: Conn, r: Req) -> None:
    c.answer(200, b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>", "text/html")


@fault("json_as_html")
def _json_as_html(c: Conn, r: Req) -> None:
    """A correct Response labelled text/html."""
    c.answer(200, json.dumps(response_object(r.model, TEXT)).encode(), "text/html; charset=utf-8")


@fault("html_502")
def _html_502(c: Conn, r: Req) -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"
    c.answer(502, page, "text/html")


@fault("json_list")
def _json_list(c: Conn, r: Req) -> None:
    c.answer(200, json.dumps([response_object(r.model, TEXT)]).encode())


@fault("invalid_json")
def _invalid_json(c: Conn, r: Req) -> None:
    c.answer(200, json.dumps(response_object(r.model, TEXT)).encode()[:-40])


@fault("error_200")
def _error_200(c: Conn, r: Req) -> None:
    """A 200 whose body is an error object, not a Response."""
    c.answer(200, error_body("The model is overloaded, try again later.", "server_error"))


@fault("invalid_utf8_json")
def _invalid_utf8_json(c: Conn, r: Req) -> None:
    """A JSON body with a Latin-1 byte inside a string: not UTF-8, so not JSON (RFC 8259 section 8.1)."""
    c.answer(200, json.dumps(response_object(r.model, "caf@ ol@")).encode().replace(b"@", b"\xe9"))


@fault("json_as_sse")
def _json_as_sse(c: Conn, r: Req) -> None:
    """A JSON Response served as text/event-stream."""
    c.answer(200, json.dumps(response_object(r.model, TEXT)).encode(), "text/event-stream")


@fault("json_drip")
def _json_drip(c: Conn, r: Req) -> None:
    """A correct JSON Response, one byte per DRIP_S: each read is quick, the whole is not."""
    body = json.dumps(response_object(r.model, TEXT)).encode()
    c.head(200, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    c.drip(body)


@fault("content_length_short")
def _content_length_short(c: Conn, r: Req) -> None:
    """Content-Length says less than is sent: the client reads a cut JSON body."""
    body = json.dumps(response_object(r.model, TEXT)).encode()
    c.head(200, [("Content-Type", "application/json"), ("Content-Length", str(len(body) // 2))])
    c.send(body)


@fault("content_length_long")
def _content_length_long(c: Conn, r: Req) -> None:
    """Content-Length promises more than is sent before the connection closes."""
    body = json.dumps(response_object(r.model, TEXT)).encode()
    c.head(200, [("Content-Type", "application/json"), ("Content-Length", str(len(body) + 1000))])
    c.send(body)


@fault("reset_mid_body")
def _reset_mid_body(c: Conn, r: Req) -> None:
    body = json.dumps(response_object(r.model, TEXT)).encode()
    c.head(200, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    c.send(body[: len(body) // 2])
    c.wait(0.05)
    c.reset()


@fault("huge_body")
def _huge_body(c: Conn, r: Req) -> None:
    """HUGE_BYTES of JSON, generated chunk by chunk so the server never holds it."""
    c.head(200, [("Content-Type", "application/json"), ("Content-Length", str(HUGE_BYTES))])
    head = b'{"pad": "'
    c.send(head)
    left = HUGE_BYTES - len(head) - 2
    piece = b"x" * CHUNK
    while left > 0 and not c.stop.is_set():
        c.send(piece[: min(left, CHUNK)])
        left -= CHUNK
    c.send(b'"}')


@fault("gzip_bomb")
def _gzip_bomb(c: Conn, r: Req) -> None:
    """Some 40 KB on the wire that inflate to HUGE_BYTES of zeros under Content-Encoding: gzip."""
    c.answer(200, gzip_bomb(), headers=[("Content-Encoding", "gzip")])


@fault("status_500")
def _status_500(c: Conn, r: Req) -> None:
    c.answer(500, error_body("The server had an error while processing your request.", "server_error"))


@fault("status_503_empty")
def _status_503_empty(c: Conn, r: Req) -> None:
    c.head(503, [("Content-Length", "0")])


@fault("status_429")
def _status_429(c: Conn, r: Req) -> None:
    body = error_body("Rate limit reached, retry later.", "rate_limit_error", "rate_limit_exceeded")
    c.answer(429, body, headers=[("Retry-After", "7")])


@fault("status_600")
def _status_600(c: Conn, r: Req) -> None:
    """A status past 599, which HTTP does not define: the SDKs call it a server error and retry it."""
    c.answer(600, error_body("The server had an error while processing your request.", "server_error"))


@fault("redirect_loop")
def _redirect_loop(c: Conn, r: Req) -> None:
    """A 307 to the very same URL: method and body are kept, so a client that follows loops forever."""
    c.answer(307, b"", headers=[("Location", r.target)])


@fault("no_response")
def _no_response(c: Conn, r: Req) -> None:
    """The connection closes before a single byte of answer."""


@fault("garbage_status_line")
def _garbage_status_line(c: Conn, r: Req) -> None:
    c.send(b"HELLO THERE\r\n\r\n")


@fault("silent")
def _silent(c: Conn, r: Req) -> None:
    """Accepts the request and never answers."""
    c.wait(HOLD_S)


@fault("header_drip")
def _header_drip(c: Conn, r: Req) -> None:
    """The status line, then header bytes one per DRIP_S: no single read ever times out."""
    c.send(b"HTTP/1.1 200 OK\r\n")
    c.drip(b"X-Padding: " + b"a" * 10_000)


# --- faults: broken event streams ----------------------------------------------------------------------


@fault("sse_truncated")
def _sse_truncated(c: Conn, r: Req) -> None:
    """The stream ends cleanly, but in the middle of an event's data line."""
    frames = [frame(e) for e in stream_events(r.model, TEXT)]
    send_stream(c, [*frames[:5], frames[5][: len(frames[5]) // 2]])


@fault("sse_chunked_cut")
def _sse_chunked_cut(c: Conn, r: Req) -> None:
    """Chunked transfer encoding, and the connection closes inside a chunk."""
    c.head(200, [("Content-Type", "text/event-stream"), ("Transfer-Encoding", "chunked")])
    for data in [frame(e) for e in stream_events(r.model, TEXT)][:4]:
        if not c.wait(EVENT_GAP_S):
            return
        c.send(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    c.send(b"400\r\ndata: {")


@fault("sse_silent")
def _sse_silent(c: Conn, r: Req) -> None:
    """Two events, then nothing: the connection stays open and quiet."""
    send_stream(c, [frame(e) for e in stream_events(r.model, TEXT)[:2]])
    c.wait(HOLD_S)


@fault("sse_comments_forever")
def _sse_comments_forever(c: Conn, r: Req) -> None:
    """Keep-alive comments every 100 ms, never an end: each read is quick, the stream is endless."""
    send_stream(c, [frame(e) for e in stream_events(r.model, TEXT)[:2]])
    while c.wait(0.1):
        c.send(b": keep-alive\n\n")


@fault("sse_drip")
def _sse_drip(c: Conn, r: Req) -> None:
    """A correct stream, one byte per DRIP_S."""
    sse_head(c)
    c.drip(b"".join(frame(e) for e in stream_events(r.model, TEXT)))


@fault("sse_invalid_json")
def _sse_invalid_json(c: Conn, r: Req) -> None:
    frames = [frame(e) for e in stream_events(r.model, TEXT)]
    frames.insert(4, b'event: response.output_text.delta\ndata: {"type": "response.output_text.delta", "delta\n\n')
    send_stream(c, frames)


@fault("sse_text_plain")
def _sse_text_plain(c: Conn, r: Req) -> None:
    """A correct stream's bytes under Content-Type text/plain."""
    c.head(200, [("Content-Type", "text/plain")])
    for e in stream_events(r.model, TEXT):
        if not c.wait(EVENT_GAP_S):
            return
        c.send(frame(e))


@fault("sse_out_of_order")
def _sse_out_of_order(c: Conn, r: Req) -> None:
    """Text deltas before their content part is opened (sequence numbers still increase)."""
    events = stream_events(r.model, TEXT)
    part_added = events.pop(3)
    events.insert(6, part_added)
    send_stream(c, [frame(e) for e in renumber(events)])


@fault("sse_duplicate_seq")
def _sse_duplicate_seq(c: Conn, r: Req) -> None:
    events = stream_events(r.model, TEXT)
    events[5]["sequence_number"] = events[4]["sequence_number"]
    send_stream(c, [frame(e) for e in events])


@fault("sse_missing_seq")
def _sse_missing_seq(c: Conn, r: Req) -> None:
    events = [{k: v for k, v in e.items() if k != "sequence_number"} for e in stream_events(r.model, TEXT)]
    send_stream(c, [frame(e) for e in events])


@fault("sse_invalid_utf8")
def _sse_invalid_utf8(c: Conn, r: Req) -> None:
    """A delta with a Latin-1 byte: an event stream is UTF-8 by definition."""
    text = "caf@ ol@"
    frames = [frame(e).replace(b"@", b"\xe9") for e in stream_events(r.model, text)]
    send_stream(c, frames)


@fault("sse_completed_twice")
def _sse_completed_twice(c: Conn, r: Req) -> None:
    events = stream_events(r.model, TEXT)
    send_stream(c, [frame(e) for e in renumber([*events, events[-1]])])


@fault("sse_no_created")
def _sse_no_created(c: Conn, r: Req) -> None:
    send_stream(c, [frame(e) for e in renumber(stream_events(r.model, TEXT)[1:])])


@fault("sse_event_mismatch")
def _sse_event_mismatch(c: Conn, r: Req) -> None:
    """The `event:` line names another type than the payload's."""
    frames = [frame(e) for e in stream_events(r.model, TEXT)]
    frames[4] = frames[4].replace(b"event: response.output_text.delta", b"event: message", 1)
    send_stream(c, frames)


@fault("sse_error_nested")
def _sse_error_nested(c: Conn, r: Req) -> None:
    """LocalAI's failed stream (core/http/endpoints/openresponses/responses.go): an `error` event with its fields
    nested under `error`, a response.failed whose Response has error null, then `data: [DONE]`."""
    created = response_object(r.model, "", "in_progress")
    said = {"type": "model_error", "message": "model inference failed: backend died"}
    events = [
        {"type": "response.created", "response": created},
        {"type": "response.in_progress", "response": created},
        {"type": "error", "error": said},
        {"type": "response.failed", "response": {**created, "status": "failed"}},
    ]
    send_stream(c, [*(frame(e) for e in renumber(events)), b"data: [DONE]\n\n"])


@fault("sse_huge_line")
def _sse_huge_line(c: Conn, r: Req) -> None:
    """One `data:` line of HUGE_LINE bytes, beyond the parser's line cap, sent in chunks."""
    sse_head(c)
    c.send(frame(stream_events(r.model, TEXT)[0]) + b"data: ")
    piece = b"x" * CHUNK
    for _ in range(HUGE_LINE // CHUNK):
        if c.stop.is_set():
            return
        c.send(piece)
    c.send(b"\n\n")


@fault("sse_flood")
def _sse_flood(c: Conn, r: Req) -> None:
    """HUGE_BYTES of well-formed delta events as fast as the client reads: a stream has no size bound."""
    events = stream_events(r.model, TEXT)
    sse_head(c)
    for e in events[:4]:
        c.send(frame(e))
    delta = {**events[4], "delta": "x" * (1024 * 1024 - 300)}
    floods = HUGE_BYTES // (1024 * 1024)
    for n in range(floods):
        if c.stop.is_set():
            return
        c.send(frame({**delta, "sequence_number": 4 + n}))
    c.send(b"".join(frame({**e, "sequence_number": floods + i}) for i, e in enumerate(events[-4:], 4)))


@fault("sse_gzip")
def _sse_gzip(c: Conn, r: Req) -> None:
    """A correct stream under Content-Encoding: gzip, which the client's Accept-Encoding allows."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    if not r.stream:
        normal(c, r)
        return
    sse_head(c, headers=[("Content-Encoding", "gzip")])
    for e in stream_events(r.model, TEXT):
        if not c.wait(EVENT_GAP_S):
            return
        c.send(packer.compress(frame(e)) + packer.flush(zlib.Z_SYNC_FLUSH))
    c.send(packer.flush())


@fault("sse_reset")
def _sse_reset(c: Conn, r: Req) -> None:
    """A TCP reset in the middle of a stream."""
    send_stream(c, [frame(e) for e in stream_events(r.model, TEXT)[:5]])
    c.wait(0.05)
    c.reset()


# --- faults: hostile values the suite must survive (round two) ---------------------------------------

DEEP = 10_000  # nesting levels of the deep-JSON faults: some 20 kB that Python's json cannot recurse through
TINY_FLOOD_BYTES = 30 * 1024 * 1024  # tiny events, each a finding or two if the suite kept them all


def deep_json(levels: int = DEEP) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


@fault("sse_retry_huge")
def _sse_retry_huge(c: Conn, r: Req) -> None:
    """A `retry:` of 5,000 digits (int() refuses it) and a 4 kB `event:` name before a correct stream."""
    frames = [frame(e) for e in stream_events(r.model, TEXT)]
    frames[0] = b"retry: " + b"9" * 5000 + b"\nid: " + b"i" * 4096 + b"\n" + frames[0]
    send_stream(c, frames)


@fault("deep_json")
def _deep_json(c: Conn, r: Req) -> None:
    """A Response whose `metadata` is nested DEEP levels: 20 kB that must not reach a recursive walk."""
    body = json.dumps(response_object(r.model, TEXT)).replace('"metadata": {}', f'"metadata": {deep_json()}')
    c.answer(200, body.encode())


@fault("sse_deep_event")
def _sse_deep_event(c: Conn, r: Req) -> None:
    """A correct stream with one extra delta whose payload is nested DEEP levels."""
    frames = [frame(e) for e in stream_events(r.model, TEXT)]
    deep = f'{{"type": "response.output_text.delta", "sequence_number": 4, "obfuscation": {deep_json()}}}'
    frames.insert(4, f"event: response.output_text.delta\ndata: {deep}\n\n".encode())
    send_stream(c, frames)


@fault("deep_error")
def _deep_error(c: Conn, r: Req) -> None:
    """A 400 whose error object is nested DEEP levels."""
    c.answer(400, ('{"error": ' + deep_json() + "}").encode())


@fault("nan_json")
def _nan_json(c: Conn, r: Req) -> None:
    """NaN and Infinity, which Python's json reads and JSON does not have."""
    body = json.dumps(response_object(r.model, TEXT)).replace('"temperature": null', '"temperature": NaN')
    c.answer(200, body.replace('"top_p": null', '"top_p": Infinity').encode())


@fault("huge_number")
def _huge_number(c: Conn, r: Req) -> None:
    """`created_at` with 5,000 digits: beyond what Python converts to an int by default."""
    body = json.dumps(response_object(r.model, TEXT)).replace("1700000000", "9" * 5000)
    c.answer(200, body.encode())


@fault("duplicate_keys")
def _duplicate_keys(c: Conn, r: Req) -> None:
    """A Response naming `status` twice: parsers disagree on which one wins."""
    body = json.dumps(response_object(r.model, TEXT))
    c.answer(200, body.replace('"status": "completed"', '"status": "failed", "status": "completed"', 1).encode())


@fault("limit_tiny")
def _limit_tiny(c: Conn, r: Req) -> None:
    """A correct answer announcing a limit of one request per ten days: a pacer that obeyed would stall."""
    normal(c, r, headers=[("x-ratelimit-limit-minute", "0.0001")])


@fault("limit_epsilon")
def _limit_epsilon(c: Conn, r: Req) -> None:
    """A correct answer announcing a limit so small that its interval does not fit a sleep."""
    normal(c, r, headers=[("x-ratelimit-limit-minute", "1e-300")])


@fault("deep_401")
def _deep_401(c: Conn, r: Req) -> None:
    """A refused key whose error object is nested DEEP levels: the preflight quotes its message."""
    c.answer(401, ('{"error": ' + deep_json() + "}").encode())


UNFOLLOWABLE = {"redirect_script": "javascript:alert(document.domain)", "redirect_idna": "http://xn--a/v1/responses"}


def _unfollowable(location: str) -> Fault:
    def answer(c: Conn, r: Req) -> None:
        c.answer(307, b"", headers=[("Location", location)])

    answer.__doc__ = f"A redirect to {location!r}, which httpx cannot build a request for."
    return answer


for _name, _location in UNFOLLOWABLE.items():
    fault(_name)(_unfollowable(_location))


@fault("id_surrogate")
def _id_surrogate(c: Conn, r: Req) -> None:
    """A response id holding a lone surrogate, escaped as JSON allows: valid JSON, no valid text."""
    body = json.dumps({**response_object(r.model, TEXT), "id": "resp_SURROGATE"}).replace("SURROGATE", "\\udfff")
    c.answer(200, body.encode())


def _with_id(c: Conn, r: Req, rid: str) -> None:
    """A correct answer to the POST whose Response id is `rid`; the GET that would follow is logged."""
    if r.method == "GET":
        c.answer(200, json.dumps({**response_object("x", TEXT), "id": rid}).encode())
        return
    c.answer(200, json.dumps({**response_object(r.model, TEXT), "id": rid}).encode())


@fault("id_traversal")
def _id_traversal(c: Conn, r: Req) -> None:
    """A response id that, put in a URL as is, sends the follow-up GET (and the key) outside /v1."""
    _with_id(c, r, "../../../admin/x")


@fault("id_newline")
def _id_newline(c: Conn, r: Req) -> None:
    """A response id with a newline and a header after it."""
    _with_id(c, r, "resp_1\r\nX-Injected: 1")


@fault("id_query")
def _id_query(c: Conn, r: Req) -> None:
    """A response id that would add a query and a fragment to the URL."""
    _with_id(c, r, "resp_1?steal=1#x")


@fault("echo_key_split")
def _echo_key_split(c: Conn, r: Req) -> None:
    """The key split across two deltas of a stream, which a check reassembles; a JSON answer is normal."""
    if not r.stream:
        normal(c, r)
        return
    send_stream(c, [frame(e) for e in _key_split_events(r)])


@fault("echo_key_split_items")
def _echo_key_split_items(c: Conn, r: Req) -> None:
    """The key split across two output messages of a JSON answer, which a client's output_text joins."""
    if r.stream:
        normal(c, r)
        return
    half = len(r.key) // 2
    body = response_object(r.model, "")
    first, second = (json.loads(json.dumps(body["output"][0])) for _ in range(2))
    first["content"][0]["text"], second["content"][0]["text"] = f"Key: {r.key[:half]}", f"{r.key[half:]} end"
    second["id"] = "msg_fault_2"
    c.answer(200, json.dumps({**body, "output": [first, second]}).encode())


@fault("echo_key_split_nested")
def _echo_key_split_nested(c: Conn, r: Req) -> None:
    """The key split across two output messages of a stream: besides the deltas, their halves sit in nested
    fields (`part.text`, `item.content[].text`, the final `response.output[]`), which a client joins into
    output_text; a JSON answer is normal."""
    if not r.stream:
        normal(c, r)
        return
    half = len(r.key) // 2
    first, second = f"Key: {r.key[:half]}", f"{r.key[half:]} end"
    one = stream_events(r.model, first)
    two = [_as_second(e) for e in stream_events(r.model, second)[2:-1]]
    final = response_object(r.model, "")
    final["output"] = [one[-2]["item"], two[-1]["item"]]
    send_stream(c, [frame(e) for e in renumber([*one[:-1], *two, {"type": "response.completed", "response": final}])])


def _as_second(event: dict[str, Any]) -> dict[str, Any]:
    """A message event moved to the second output item."""
    moved = {**event, **({"output_index": 1} if "output_index" in event else {})}
    if "item_id" in moved:
        moved["item_id"] = "msg_fault_2"
    if "item" in moved:
        moved["item"] = {**moved["item"], "id": "msg_fault_2"}
    return moved


def _key_split_events(r: Req) -> list[dict[str, Any]]:
    """A text stream whose deltas are "Key: ", the key's first half, its second half, " end"."""
    half = len(r.key) // 2
    pieces = ["Key: ", r.key[:half], r.key[half:], " end"]
    events = stream_events(r.model, "".join(pieces))
    deltas = [i for i, e in enumerate(events) if e["type"] == "response.output_text.delta"]
    template = events[deltas[0]]
    split = [{**template, "delta": piece} for piece in pieces]
    return renumber([*events[: deltas[0]], *split, *events[deltas[-1] + 1 :]])


@fault("echo_key_variants")
def _echo_key_variants(c: Conn, r: Req) -> None:
    """The key upper-cased, lower-cased, JSON-escaped character by character, and percent-encoded."""
    escaped = "".join(f"\\u{ord(ch):04x}" for ch in r.key)
    percent = "".join(f"%{ord(ch):02X}" for ch in r.key)
    text = f"upper {r.key.upper()} lower {r.key.lower()} pct {percent} esc "
    body = json.dumps(response_object(r.model, text + "ESCAPED")).replace("ESCAPED", escaped)
    c.answer(200, body.encode())


@fault("echo_key_gzip_members")
def _echo_key_gzip_members(c: Conn, r: Req) -> None:
    """A gzip body of two members, the key in the second: one decompressor stops after the first."""
    body = json.dumps(response_object(r.model, f"Your key is {r.key}.")).encode()
    half = len(body) // 2
    c.answer(200, gzip_bytes([body[:half]]) + gzip_bytes([body[half:]]), headers=[("Content-Encoding", "gzip")])


@fault("echo_key_gzip_stacked")
def _echo_key_gzip_stacked(c: Conn, r: Req) -> None:
    """The key under two codings, `Content-Encoding: deflate, gzip`: deflate applied first, then gzip."""
    body = json.dumps(response_object(r.model, f"Your key is {r.key}.")).encode()
    c.answer(200, gzip_bytes([zlib.compress(body)]), headers=[("Content-Encoding", "deflate, gzip")])


@fault("echo_key_brotli")
def _echo_key_brotli(c: Conn, r: Req) -> None:
    """A coding the suite never asked for and cannot undo (here: bytes that merely claim `br`)."""
    body = json.dumps(response_object(r.model, f"Your key is {r.key}.")).encode()
    c.answer(200, bytes(b ^ 0x5A for b in body), headers=[("Content-Encoding", "br")])


@fault("echo_key_split_gzip")
def _echo_key_split_gzip(c: Conn, r: Req) -> None:
    """echo_key_split's stream under gzip, each event flushed as it goes: the key is whole in no event,
    and no event is readable before decoding."""
    if not r.stream:
        normal(c, r)
        return
    sse_head(c, headers=[("Content-Encoding", "gzip")])
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    for event in _key_split_events(r):
        if not c.wait(EVENT_GAP_S):
            return
        c.send(packer.compress(frame(event)) + packer.flush(zlib.Z_SYNC_FLUSH))
    c.send(packer.flush())


@fault("echo_key_split_stacked")
def _echo_key_split_stacked(c: Conn, r: Req) -> None:
    """echo_key_split's stream under `deflate, gzip`: one deflate stream flushed per event, each flush
    sent as a gzip member of its own."""
    if not r.stream:
        normal(c, r)
        return
    sse_head(c, headers=[("Content-Encoding", "deflate, gzip")])
    packer = zlib.compressobj()
    for event in _key_split_events(r):
        if not c.wait(EVENT_GAP_S):
            return
        c.send(gzip_bytes([packer.compress(frame(event)) + packer.flush(zlib.Z_SYNC_FLUSH)]))
    c.send(gzip_bytes([packer.flush()]))


@fault("echo_key_disguised")
def _echo_key_disguised(c: Conn, r: Req) -> None:
    """The key as base64 (after none, one and two other bytes: each alignment differs), with an invisible
    character between every two of its characters (raw UTF-8 in a JSON answer), and as HTML references."""
    key, invisible = r.key, "\u200b"
    encoded = " ".join(base64.b64encode(lead + key.encode()).decode() for lead in (b"", b":", b"u:"))
    references = "".join(f"&#{ord(ch)};" for ch in key) + " " + "".join(f"&#x{ord(ch):X};" for ch in key)
    text = f"base64 {encoded} invisible {invisible.join(key)} html {references}"
    if r.stream:
        normal(c, r, text)
    else:
        c.answer(200, json.dumps(response_object(r.model, text), ensure_ascii=False).encode())


@fault("echo_key_hex")
def _echo_key_hex(c: Conn, r: Req) -> None:
    """The key's bytes in hex, as a request dump shows them: run together, upper case, and byte by byte."""
    data = r.key.encode()
    text = f"hex {data.hex()} HEX {data.hex().upper()} xxd {data.hex(' ')} wire {data.hex(':').upper()}"
    c.answer(200, json.dumps(response_object(r.model, text)).encode())


CODINGS_DEEP = 100


@fault("codings_deep")
def _codings_deep(c: Conn, r: Req) -> None:
    """A Response gzip-coded CODINGS_DEEP times, each named in Content-Encoding: every coding undone is a
    decompressor and its window, and a 64 KB header names some 13,000."""
    body = json.dumps(response_object(r.model, TEXT)).encode()
    for _ in range(CODINGS_DEEP):
        body = gzip_bytes([body])
    c.answer(200, body, headers=[("Content-Encoding", ", ".join(["gzip"] * CODINGS_DEEP))])


# Answers that quote the key across the point where the suite cuts a quote short (a catalog's
# problem keeps 200 characters, its non-JSON body 80, a parser's warning 60): a scrub after the cut
# would meet only part of the key. The catalogs are chosen by the base URL, as below.


def _straddling(key: str, before: str, cut: int) -> str:
    """Padding, then the key: `before` plus the result puts the middle of the key at `cut`."""
    return "x" * max(0, cut - len(before) - len(key) // 2) + key


@fault("echo_key_refused_long")
def _echo_key_refused_long(c: Conn, r: Req) -> None:
    """A 401 whose message quotes the key across its 200th character (and its body's)."""
    said = "Incorrect API key provided: "
    c.answer(401, error_body(said + _straddling(r.key, said, 200)))


def _catalog_echo_key_html(c: Conn, r: Req) -> None:
    """A 200 that is not JSON and quotes the key across the 80 characters a problem keeps."""
    said = "<html>your key "
    c.answer(200, f"{said}{_straddling(r.key, said, 80)}</html>".encode(), "text/html")


def _catalog_echo_key_reason(c: Conn, r: Req) -> None:
    """A 401 whose reason phrase carries the key: the HTTP library logs it before any probe has run."""
    body = error_body(f"Incorrect API key provided: {r.key}")
    head = f"HTTP/1.1 401 Key {r.key} refused\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    c.send(head.encode() + b"Connection: close\r\n\r\n" + body)


def _catalog_echo_key_ids(c: Conn, r: Req) -> None:
    """The key as a model id (bare and JSON-escaped), beside a normal model, in fields the suite reads and not."""
    escaped = "".join(f"\\u{ord(ch):04x}" for ch in r.key)
    data = [
        {"id": "fault:normal", "object": "model", "owned_by": r.key, "context_length": _straddling(r.key, '"', 60)},
        {"id": f"fault:normal#{r.key}", "object": "model"},
        {"id": "fault:normal#ESCAPED", "object": "model"},
    ]
    c.answer(200, json.dumps({"object": "list", "data": data}).replace("ESCAPED", escaped).encode())


@fault("header_non_ascii")
def _header_non_ascii(c: Conn, r: Req) -> None:
    """Header values with a Latin-1 byte and with UTF-8: httpx decodes them, and must get them back."""
    body = json.dumps(response_object(r.model, TEXT)).encode()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    head += b"X-Latin: caf\xe9\r\nX-Utf8: \xc3\xa9t\xc3\xa9\r\n"
    c.send(head + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)


@fault("sse_tiny_flood")
def _sse_tiny_flood(c: Conn, r: Req) -> None:
    """TINY_FLOOD_BYTES of the smallest events, unnumbered and out of grammar, as fast as the client reads."""
    sse_head(c)
    piece = b"data: {}\n\n" * 6000
    for _ in range(TINY_FLOOD_BYTES // len(piece)):
        if c.stop.is_set():
            return
        c.send(piece)


@fault("findings_flood")
def _findings_flood(c: Conn, r: Req) -> None:
    """A stream of 300 deltas, every one breaking the same rules (no sequence numbers, no item open)."""
    events = stream_events(r.model, TEXT)
    flood = [{"type": "response.output_text.delta", "delta": "x", "item_id": "nope", "output_index": 7}] * 300
    send_stream(c, [b"".join(frame(e) for e in [*events[:2], *flood, events[-1]])])


ITEMS_FLOOD = 20_000  # output items (or content parts) that fail the schema: some 60 KB of JSON


@fault("output_flood")
def _output_flood(c: Conn, r: Req) -> None:
    """A correct message followed by ITEMS_FLOOD empty output items, each failing every member of the union."""
    body = response_object(r.model, TEXT)
    body["output"] += [{}] * ITEMS_FLOOD
    c.answer(200, json.dumps(body, separators=(",", ":")).encode())


@fault("parts_flood")
def _parts_flood(c: Conn, r: Req) -> None:
    """One message whose content holds ITEMS_FLOOD output_text parts lacking their text."""
    body = response_object(r.model, TEXT)
    body["output"][0]["content"] += [{"type": "output_text"}] * ITEMS_FLOOD
    c.answer(200, json.dumps(body, separators=(",", ":")).encode())


COSTLY_EVENTS = 3000  # events that each carry a Response of 40 empty output items: some 2.5 MB


@fault("sse_costly_events")
def _sse_costly_events(c: Conn, r: Req) -> None:
    """A stream whose every event is cheap to send and costly to read: a Response of empty output items,
    which a client rebuilds and a judge explains, milliseconds per event. A JSON answer is normal."""
    if not r.stream:
        normal(c, r)
        return
    events = stream_events(r.model, TEXT)
    costly = {**response_object(r.model, "", "in_progress"), "output": [{}] * 40}
    flood = [{"type": "response.in_progress", "response": costly}] * COSTLY_EVENTS
    send_stream(c, [b"".join(frame(e) for e in renumber([events[0], *flood, *events[1:]]))])


# Catalog faults are chosen by the base URL's first path segment (`/catalog_drip/v1`), since a GET
# /models carries no model to name them by.


def _catalog_drip(c: Conn, r: Req) -> None:
    """The model list, one byte per DRIP_S: each read is quick, the whole takes minutes."""
    body = json.dumps({"object": "list", "data": [{"id": "fault:normal", "object": "model"}] * 50}).encode()
    c.head(200, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    c.drip(body)


def _catalog_deep(c: Conn, r: Req) -> None:
    c.answer(200, ('{"object": "list", "data": [' + deep_json() + "]}").encode())


HOSTILE_IDS = (
    "fault:normal#\x1b]0;owned\x07\x1b[2J",
    "fault:normal#\u202eevil",
    "fault:normal#a\nFAKE PASS line",
    "fault:normal#\ud800lone",  # sent as the escape `\\ud800`: a lone surrogate, no Unicode text
)


def _catalog_hostile_ids(c: Conn, r: Req) -> None:
    """Model ids with terminal escape sequences, a bidi override, a newline and a lone surrogate."""
    data = [{"id": model, "object": "model", "created": 0, "owned_by": "faults"} for model in HOSTILE_IDS]
    c.answer(200, json.dumps({"object": "list", "data": data}).encode())


CATALOG_FLOOD = 50_000  # models in the flooding catalog: far beyond any real one


def _catalog_flood(c: Conn, r: Req) -> None:
    """CATALOG_FLOOD models, every one a healthy fault:normal."""
    data = [{"id": f"fault:normal#{i}", "object": "model"} for i in range(CATALOG_FLOOD)]
    c.answer(200, json.dumps({"object": "list", "data": data}).encode())


LONG_ID = "fault:normal#" + "A" * 2_000_000  # a model id of megabytes, beside a healthy one


def _catalog_long_id(c: Conn, r: Req) -> None:
    """A model id of 2 MB, which a run would write into every cell, page and line of its model, then a normal one."""
    data = [{"id": LONG_ID, "object": "model", "owned_by": "x"}, {"id": "fault:normal", "object": "model"}]
    c.answer(200, json.dumps({"object": "list", "data": data}).encode())


def _catalog_only_long_id(c: Conn, r: Req) -> None:
    """A catalog read whole whose one model the suite skips (an id of megabytes): it gives no model to run."""
    c.answer(200, json.dumps({"object": "list", "data": [{"id": LONG_ID, "object": "model"}]}).encode())


def _catalog_unknown_as_minus_one(c: Conn, r: Req) -> None:
    """-1 for a count the catalog does not know ("unknown", "unlimited"): a context length in the OpenAI list."""
    data = [{"id": "fault:normal", "object": "model", "context_length": -1}]
    c.answer(200, json.dumps({"object": "list", "data": data}).encode())


def _catalog_ovh_unlimited(c: Conn, r: Req) -> None:
    """The same in OVHcloud's catalog format: a rate limit of -1."""
    rate = {"rate_limit": {"rate_limit_api": -1, "rate_limit_api_anonymous": -1}}
    item = {"id": "fault:normal", "name": "n", "available": True, "metadata": {"usage_information": rate}}
    c.answer(200, json.dumps([item]).encode())


CATALOG_FAULTS: dict[str, Fault] = {
    "catalog_drip": _catalog_drip,
    "catalog_deep": _catalog_deep,
    "catalog_hostile_ids": _catalog_hostile_ids,
    "catalog_redirect_script": _unfollowable("javascript:alert(document.domain)"),
    "catalog_flood": _catalog_flood,
    "catalog_long_id": _catalog_long_id,
    "catalog_only_long_id": _catalog_only_long_id,
    "catalog_unknown_as_minus_one": _catalog_unknown_as_minus_one,
    "catalog_ovh_unlimited": _catalog_ovh_unlimited,
    "catalog_echo_key_refused": _echo_key_refused_long,
    "catalog_echo_key_html": _catalog_echo_key_html,
    "catalog_echo_key_ids": _catalog_echo_key_ids,
    "catalog_echo_key_reason": _catalog_echo_key_reason,
}


# --- the server ------------------------------------------------------------------------------------


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = False  # server_close() joins every handler: none outlives the `with` block
    allow_reuse_address = True
    request_queue_size = 128  # tests open dozens of connections at once

    def __init__(self, owner: FaultServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner


class _Handler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(HOLD_S)
        try:
            req = _read_request(sock)
            if req is None:
                return
            self.server.owner.log(req)
            conn = Conn(sock, self.server.owner.stop)
            first = req.target.lstrip("/").partition("/")[0]
            if req.method == "GET" and req.target.partition("?")[0].endswith("/models"):
                CATALOG_FAULTS.get(first, _models)(conn, req)
            else:
                FAULTS.get(req.fault, _unknown)(conn, req)
        except OSError:
            return  # the client hung up or reset: that is its right


def _models(c: Conn, r: Req) -> None:
    """GET /models lists every fault as a model, in the OpenAI shape."""
    data = [{"id": f"fault:{name}", "object": "model", "created": 0, "owned_by": "faults"} for name in FAULTS]
    c.answer(200, json.dumps({"object": "list", "data": data}).encode())


def _unknown(c: Conn, r: Req) -> None:
    c.answer(404, error_body(f"no fault named {r.fault!r}; known: {', '.join(sorted(FAULTS))}", code="model_not_found"))


def _read_request(sock: socket.socket) -> Req | None:
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(CHUNK)
        if not more or len(data) > MAX_REQUEST:
            return None
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, target, _ = request_line.split(" ", 2)
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = min(int(headers.get("content-length", "0") or 0), MAX_REQUEST)
    while len(body) < length:
        more = sock.recv(CHUNK)
        if not more:
            return None
        body += more
    return Req(method, target, headers, body[:length])


@dataclass
class FaultServer:
    """Use it as a context manager; it stops, and every connection it holds ends, when the block does."""

    stop: threading.Event = field(default_factory=threading.Event)
    requests: list[Req] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _server: _TCPServer | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "the server is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def log(self, req: Req) -> None:
        with self._lock:
            self.requests.append(req)

    def models_requested(self) -> list[str]:
        with self._lock:
            return [r.model for r in self.requests]

    def __enter__(self) -> Self:
        self._server = _TCPServer(self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self.stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=HOLD_S)
