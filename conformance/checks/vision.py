"""Vision checks: the answer names what the image shows, so an image dropped on the way is caught."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

from conformance.checks.core import _ok, output_text, response_body
from conformance.checks.rules import Tag, quote, rule
from conformance.evidence import Exchange, Finding, Level

NAMES_IMAGE = rule(
    "vision.names_image",
    Level.MUST,
    "the answer names what the image shows",
    tag=Tag.SEMANTIC,
    effect=True,
)


def names(*groups: tuple[str, ...]) -> Callable[[Sequence[Exchange]], Iterator[Finding]]:
    """Every answer contains, as a whole word, one spelling from each group ("3" or "three")."""

    def check(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
        for ex in _ok(exchanges):
            text = output_text(response_body(ex))
            for group in groups:
                if not any(re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE) for word in group):
                    yield NAMES_IMAGE.finding(
                        f"expected the answer to name {' or '.join(map(repr, group))}, got {quote(text)}"
                    )

    check.__name__ = "names_" + "_".join(group[0] for group in groups)
    return check
