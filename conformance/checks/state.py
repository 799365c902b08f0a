"""State checks: what `store` says, whether a stored response reads back as it was made, whether
`previous_response_id` or a `conversation` put the earlier turns into the prompt (and left their
instructions out), whether a deleted response is gone, and whether a stored response's input items
list what was sent.

Effects are read on the wire before meaning: a chained turn's usage.input_tokens must exceed those
of the very same turn sent without `previous_response_id` or `conversation` (the probe sends both),
so a server that drops the history fails even when semantic checks are off, and one that keeps it
passes even when its model is too weak to answer from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from conformance.checks.core import _ok, answer_mentions, output_text, response_body
from conformance.checks.echo import absent, absent_echo
from conformance.checks.reasoning import output_items
from conformance.checks.rules import Rule, quote, rule
from conformance.evidence import Exchange, Finding, Level
from conformance.jsonpath import MISSING

STORE_ECHO = rule(
    "state.store_echo", Level.MUST, "where the Response echoes `store`, it is the value sent", effect=True
)
RETRIEVE = rule(
    "state.retrieve", Level.MUST, "GET /responses/{id} returns the stored Response: same id, status, items and text"
)
HISTORY = rule(
    "state.history",
    Level.MUST,
    "with previous_response_id, input_tokens exceed those of the same turn sent alone: the earlier turn was read",
    effect=True,
)
RESPONSE_ID = rule(
    "state.response_id",
    Level.MUST,
    "a stored Response has a non-empty string id, which the next request names (GET, DELETE, previous_response_id)",
)
DELETE = rule(
    "state.delete",
    Level.MUST,
    "after a 2xx DELETE /responses/{id}, GET /responses/{id} no longer returns the response",
    effect=True,
)
DELETE_GONE = rule("state.delete_gone_status", Level.SHOULD, "GET of a deleted response gets 404, as OpenAI answers")
DELETE_ANSWER = rule(
    "state.delete_answer",
    Level.SHOULD,
    "a DELETE's JSON answer does not contradict it: its `deleted`, where present, is true, its `id` the one deleted",
)
INPUT_ITEMS = rule(
    "state.input_items",
    Level.MUST,
    "GET /responses/{id}/input_items lists, in `data`, the input message sent with its text",
)
INPUT_ITEMS_LIST = rule(
    "state.input_items_list",
    Level.SHOULD,
    "the input items answer is a list object: object 'list', first_id, last_id, a boolean has_more, an id per item",
)
INSTRUCTIONS_INHERITED = rule(
    "state.instructions_not_inherited",
    Level.MUST,
    "a turn chained with previous_response_id and no instructions does not take the earlier turn's instructions",
)
INSTRUCTIONS_UNSEEN = rule(
    "state.instructions_measured",
    Level.INFO,
    "the instructions cost enough input tokens over the same turn without them for usage to show a carry-over",
)
# Input tokens instructions must cost, over what a template puts where none are sent, for a carry-over to
# stand out from the chained turn's new input and per-message tokens (the probe's cost some 110).
MIN_INSTRUCTIONS_COST = 32
CONVERSATION_ID = rule(
    "state.conversation_id",
    Level.MUST,
    "POST /conversations answers a conversation with a non-empty string id, which the next request names",
)
CONVERSATION_HISTORY = rule(
    "state.conversation_history",
    Level.MUST,
    "with `conversation`, input_tokens exceed those of the same turn sent alone: the conversation's items were read",
    effect=True,
)
CONVERSATION_ECHO = rule(
    "state.conversation_echo",
    Level.SHOULD,
    "a Response made in a conversation names it: its `conversation.id` is the id sent",
)
HISTORY_UNSEEN = rule(
    "state.history_measured",
    Level.SHOULD,
    "the chained and the lone turn both report a positive usage.input_tokens, so the history can be seen on the wire",
)


def store_echoed(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for ex in _ok(exchanges):
        sent, body = ex.request_json(), response_body(ex)
        wanted = sent.get("store") if isinstance(sent, dict) else None
        if isinstance(wanted, bool) and isinstance(body, dict) and "store" in body and body["store"] is not wanted:
            yield STORE_ECHO.finding(f"expected store {wanted} (as sent), got {quote(body['store'])}")


def _summary(body: Any) -> dict[str, Any]:
    """What must survive a round trip through storage."""
    fields = body if isinstance(body, dict) else {}
    return {
        "id": fields.get("id"),
        "status": fields.get("status"),
        "items": [(item.get("id"), item.get("type")) for item in output_items(body)],
        "text": output_text(body),
    }


def retrieved_same(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The first exchange creates; the last GET must return the same Response, item for item."""
    ok = _ok(exchanges)
    if not ok:
        return
    created_body = response_body(ok[0])
    created = _summary(created_body)
    if not isinstance(created["id"], str) or not created["id"]:
        yield _no_id(ok[0], "GET")
        return
    gets = [ex for ex in ok[1:] if ex.method == "GET"]
    if not gets:
        return
    got_body = gets[-1].json_or_none()
    got = _summary(got_body)
    for key, value in created.items():
        if got[key] != value:
            yield RETRIEVE.finding(f"expected the retrieved {key} {quote(value)}, got {quote(got[key])}")
    if got["items"] == created["items"]:
        yield from _same_items(output_items(created_body), output_items(got_body))


def _same_items(made: list[dict[str, Any]], read: list[dict[str, Any]]) -> Iterator[Finding]:
    """Items with the same ids and types must also hold the same content, field by field."""
    for index, (a, b) in enumerate(zip(made, read, strict=False)):
        differ = sorted(k for k in a.keys() | b.keys() if _content(a.get(k)) != _content(b.get(k)))
        if differ:
            key = differ[0]
            yield RETRIEVE.finding(
                f"expected the retrieved output[{index}] to equal the created one, it differs in {', '.join(differ)}: "
                f"{key} {quote(a.get(key))} was created, {quote(b.get(key))} retrieved"
            )


def _content(value: Any) -> Any:
    """What a value holds, its nulls, empty lists and empty objects aside: a store that writes its Responses
    back without nulls, or a field's empty list as null (`logprobs: []` created, `null` or nothing
    retrieved), changed no content a client reads."""
    if isinstance(value, dict):
        kept = {k: _content(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None} or None
    if isinstance(value, list):
        return [_content(v) for v in value] or None
    return value


def _tokens(ex: Exchange, kind: str) -> Any:
    body = response_body(ex)
    usage = body.get("usage") if isinstance(body, dict) else None
    return usage.get(kind) if isinstance(usage, dict) else None


def _input_tokens(ex: Exchange) -> Any:
    return _tokens(ex, "input_tokens")


def _measured(tokens: Any) -> bool:
    """A count the history can be read from: a prompt has tokens, so 0 (vLLM 0.10's usage zeros) measured none."""
    return isinstance(tokens, int) and not isinstance(tokens, bool) and tokens > 0


def response_id(ex: Exchange) -> str | None:
    """The id of the Response an exchange created, as the probes read it to name it next: a Response
    object's, not a stream's (an answer streamed unasked chains nothing); None without a usable one."""
    body = ex.json_or_none()
    rid = body.get("id") if isinstance(body, dict) else None
    return rid if isinstance(rid, str) and rid else None


def _no_id(created: Exchange, then: str, judged_by: Rule = RESPONSE_ID, made: str = "response") -> Finding:
    """The one finding for a created object (a Response, a conversation) that a later request cannot name."""
    body = created.json_or_none()
    got = body.get("id") if isinstance(body, dict) else None
    return judged_by.finding(f"expected the created {made} to have an id to {then}, got {quote(got)}")


def _sent(ex: Exchange) -> dict[str, Any]:
    body = ex.request_json()
    return body if isinstance(body, dict) else {}


def _chained(exchanges: Sequence[Exchange], key: str = "previous_response_id") -> Exchange | None:
    """The answered turn sent with `key` (previous_response_id, conversation)."""
    return next((ex for ex in _ok(exchanges) if key in _sent(ex)), None)


def chained_answer_mentions(
    word: str, key: str = "previous_response_id"
) -> Callable[[Sequence[Exchange]], Iterator[Finding]]:
    """A semantic check on the chained turn's answer, wherever it comes among the exchanges."""
    mentions = answer_mentions(word)

    def check(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
        chained = _chained(exchanges, key)
        if chained is not None:
            yield from mentions([chained])

    check.__name__ = f"chained_answer_mentions_{word.lower()}"
    return check


def history_counted(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The chained turn (sent with previous_response_id) against the same input sent alone."""
    ok = [ex for ex in _ok(exchanges) if ex.method == "POST"]
    chained = _chained(ok)
    if chained is None:
        if ok and not any("previous_response_id" in _sent(ex) for ex in exchanges):
            yield _no_id(ok[0], "chain to with previous_response_id")
        return
    yield from _history_read(ok, chained, "previous_response_id", HISTORY)


def conversation_counted(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The turn sent in the conversation against the same input sent alone, and its echo of the conversation."""
    ok = [ex for ex in _ok(exchanges) if ex.method == "POST"]
    chained = _chained(ok, "conversation")
    if chained is None:
        if ok and not any("conversation" in _sent(ex) for ex in exchanges):
            yield _no_id(ok[0], "name in `conversation`", CONVERSATION_ID, "conversation")
        return
    yield from _history_read(ok, chained, "conversation", CONVERSATION_HISTORY)
    sent, body = _sent(chained)["conversation"], response_body(chained)
    echo = body.get("conversation", MISSING) if isinstance(body, dict) else MISSING
    echoed = echo.get("id") if isinstance(echo, dict) else echo
    if absent(echo):
        yield absent_echo("conversation", sent)
    elif echoed != sent:
        yield CONVERSATION_ECHO.finding(f"expected conversation.id {quote(sent)}, got conversation {quote(echo)}")


def _history_read(ok: Sequence[Exchange], chained: Exchange, key: str, judged_by: Rule) -> Iterator[Finding]:
    """The chained turn costs more input tokens than the same input sent alone: the earlier turns were read."""
    asked = _sent(chained).get("input")
    alone = next((ex for ex in ok if key not in _sent(ex) and _sent(ex).get("input") == asked), None)
    if alone is not None:
        body = response_body(chained)
        echo = f" ({key} echoed as {quote(body.get(key) if isinstance(body, dict) else None)})"
        yield from history_counted_against(chained, alone, f"{key} {quote(_sent(chained)[key])}", judged_by, echo)


def history_counted_against(
    chained: Exchange,
    alone: Exchange,
    what: str,
    judged_by: Rule,
    said: str = "",
    alone_is: str = "the same turn sent alone",
) -> Iterator[Finding]:
    """A turn sent with `what` (the way it names earlier turns) costs more input tokens than `alone`, a turn whose
    whole prompt the chained one holds: the earlier turns were read into the prompt. `said` ends the finding's
    message; `alone_is` says what `alone` was."""
    with_history, without = _input_tokens(chained), _input_tokens(alone)
    if not (_measured(with_history) and _measured(without)):
        yield HISTORY_UNSEEN.finding(
            f"expected a positive integer usage.input_tokens on both turns, got {quote(with_history)} with "
            f"{what} and {quote(without)} without: the history cannot be seen on the wire"
        )
    elif with_history <= without:
        yield judged_by.finding(
            f"expected input_tokens above {without} ({alone_is}) with {what}, got {with_history}: "
            f"the earlier turn was not in the prompt{said}"
        )


def deleted(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The DELETE succeeded (a refusal is UNSUPPORTED before this runs); the GET after it must find nothing.

    The SDKs' `responses.delete(id)` returns nothing and raises only on a non-2xx, so a delete that
    was ignored shows only in the GET after it, which still returns the response. The reference
    documents no body for the DELETE's 200 (its example is `{id, object, deleted: true}`), so only
    a body that contradicts the delete is a finding.
    """
    created = next((ex for ex in _ok(exchanges) if ex.method == "POST"), None)
    if created is None:
        return
    rid = response_id(created)
    if rid is None:
        yield _no_id(created, "delete")
        return
    at = next((i for i, ex in enumerate(exchanges) if ex.method == "DELETE" and ex.status is not None), None)
    if at is None or not 200 <= (exchanges[at].status or 0) < 300:
        return
    said = exchanges[at].json_or_none()
    if isinstance(said, dict) and (said.get("deleted", True) is not True or said.get("id", rid) != rid):
        yield DELETE_ANSWER.finding(f"expected {{'id': {quote(rid)}, 'deleted': true}}, got {quote(said)}")
    after = next((ex for ex in exchanges[at + 1 :] if ex.method == "GET" and ex.status is not None), None)
    if after is None or after.status is None:
        return
    if 200 <= after.status < 300:
        yield DELETE.finding(
            f"expected 404 for GET of {quote(rid)} after its DELETE answered {exchanges[at].status}, got "
            f"{after.status}: {quote(after.body)}; the delete had no effect"
        )
    elif 400 <= after.status < 500 and after.status != 404:
        yield DELETE_GONE.finding(f"expected 404 for GET of the deleted response, got {after.status}")


def _texts(item: dict[str, Any]) -> str:
    """The text of a message item's content parts, joined."""
    content = item.get("content")
    parts = content if isinstance(content, list) else []
    return "".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))


def _sent_texts(ex: Exchange) -> list[str]:
    """The texts of the message items a request sent as `input`."""
    sent = _sent(ex).get("input")
    items = sent if isinstance(sent, list) else []
    return [text for item in items if isinstance(item, dict) and (text := _texts(item))]


def input_items_listed(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The list a stored response's input items read back as: the message sent, as a list object.

    The Python SDK's page reads `data` (a null or absent one raises on `page.data`), and its
    auto-pagination asks for a page after the last item's id unless `has_more` is false.
    """
    posts = [ex for ex in _ok(exchanges) if ex.method == "POST"]
    if not posts:
        return
    if response_id(posts[0]) is None:
        yield _no_id(posts[0], "list the input items of")
        return
    listed = next((ex for ex in reversed(_ok(exchanges)) if ex.method == "GET"), None)
    if listed is None:
        return
    body = listed.json_or_none()
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        yield INPUT_ITEMS.finding(f"expected a list object with a `data` array, got {quote(body)}")
        return
    items = [item for item in data if isinstance(item, dict)]
    got = [_texts(item) for item in items if item.get("type") == "message" and item.get("role") == "user"]
    for text in _sent_texts(posts[0]):
        if not any(text in said for said in got):
            yield INPUT_ITEMS.finding(
                f"expected data to hold the user message {quote(text)} as input_text, got {quote(data, 300)}"
            )
    yield from _list_shape(body, items)


def _list_shape(body: dict[str, Any], items: list[dict[str, Any]]) -> Iterator[Finding]:
    if body.get("object") != "list":
        yield INPUT_ITEMS_LIST.finding(f"expected object 'list', got {quote(body.get('object'))}")
    lacking = [k for k in ("first_id", "last_id") if not isinstance(body.get(k), str)]
    if items and lacking:
        yield INPUT_ITEMS_LIST.finding(f"expected string {' and '.join(lacking)}, got {quote(body)}")
    if not isinstance(body.get("has_more"), bool):
        yield INPUT_ITEMS_LIST.finding(
            f"expected a boolean has_more, got {quote(body.get('has_more'))}: unless it is false, the Python SDK's "
            "auto-pagination asks for a page after the last item's id"
        )
    unnamed = [i for i, item in enumerate(items) if not isinstance(item.get("id"), str)]
    if unnamed:
        yield INPUT_ITEMS_LIST.finding(f"expected an id on every item, data[{unnamed[0]}] has none")


def instructions_not_inherited(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The chained turn, sent without instructions, must not take the earlier turn's: not in its echo,
    nor in its prompt.

    OpenAI documents that a previous response's instructions are not carried over to the next. An
    echo that is absent or null says nothing against it; an earlier turn that did not echo its own
    instructions leaves the chained echo unable to show a carry-over, which is said (INFO). The
    prompt is read from usage (`_prompt_carried`), as vLLM carried them while echoing none.
    """
    ok = [ex for ex in _ok(exchanges) if ex.method == "POST"]
    chained = _chained(ok)
    first = next((ex for ex in ok if "instructions" in _sent(ex)), None)
    if first is None:
        return
    sent = _sent(first)["instructions"]
    if chained is None:
        if not any("previous_response_id" in _sent(ex) for ex in exchanges):
            yield _no_id(first, "chain to with previous_response_id")
        return
    if absent(_instructions(first)):
        yield absent_echo("instructions", sent, prefix="the first turn: ")
    if "instructions" in _sent(chained):
        return
    got = _instructions(chained)
    if not absent(got) and got == sent:
        yield INSTRUCTIONS_INHERITED.finding(
            f"expected no instructions on the turn chained to {quote(_sent(chained)['previous_response_id'])}, "
            f"which sent none, got the earlier turn's {quote(got)}: they were carried over"
        )
    else:
        alone = next((ex for ex in ok if ex is not first and _sent(ex) == _without(_sent(first), "instructions")), None)
        yield from _prompt_carried(first, chained, alone)


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def _instructions(ex: Exchange) -> Any:
    """The instructions a Response echoes; MISSING when it has no such field."""
    body = response_body(ex)
    return body.get("instructions", MISSING) if isinstance(body, dict) else MISSING


def _prompt_carried(first: Exchange, chained: Exchange, alone: Exchange | None) -> Iterator[Finding]:
    """Whether the chained prompt holds the first turn's instructions, read off usage against a control:
    the first turn sent again without them (`alone`).

    A template may put a default system message of its own where no instructions are sent (Mistral's
    do, hundreds of tokens), so what instructions cost is the first turn's input_tokens less the
    control's, not their length. The chained prompt holds the control's prompt, the first answer and
    the new input; carried over, the instructions add their cost on top. Judged only when that cost is
    large enough to show above the new input and the template's tokens per message; reasoning tokens
    the history leaves out only lower the chained count, so they can hide a carry-over, never make one.
    """
    tokens = [_tokens(first, "input_tokens"), _tokens(first, "output_tokens"), _input_tokens(chained)]
    control = _input_tokens(alone) if alone is not None else None
    if not all(_measured(t) for t in [*tokens, control]):
        return
    before, answered, after = tokens
    cost, extra = before - control, after - answered - control
    if cost < MIN_INSTRUCTIONS_COST:
        yield INSTRUCTIONS_UNSEEN.finding(
            f"the first turn took {before} input tokens with its instructions and {control} without them: a "
            f"difference under {MIN_INSTRUCTIONS_COST}, too small for usage to show whether the chained turn "
            "carried them (a template's own system message may stand in for them)"
        )
    elif extra >= cost / 2:
        yield INSTRUCTIONS_INHERITED.finding(
            f"the chained turn took {after} input tokens, {extra} over the first turn without its instructions "
            f"({control}) and its answer ({answered}), where the instructions cost {cost}: they were carried "
            "into the prompt"
        )
