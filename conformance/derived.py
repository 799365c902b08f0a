"""The cells a render derives from the recorded answers: the Python SDK's column and the Node SDK's cells.

Both re-read every recorded 2xx answer, which for a catalog-sized run is seconds of CPU, so a large
render reads them in forked worker processes (conformance.pool): one task per model for the Python
SDK, one for the single node process. The records come back in the order a one-process render
makes them: every model's sdk cells, then the Node cells.
"""

from __future__ import annotations

from typing import Any

from conformance import pool
from conformance.node_column import node_records
from conformance.sdk_column import model_records, models_of


def derived_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sdk column's records of every model, then the Node cells, for `records` read from results.jsonl."""
    models = models_of(records)
    workers = pool.processes(len(models) + 1, len(records))

    def work(task: int) -> list[dict[str, Any]]:
        """Task n is the n-th model; task -1 the node process."""
        if task < 0:
            return node_records(records)
        (provider, model), cells = models[task]
        return model_records(provider, model, cells)

    if not models:
        return node_records(records)
    # The first model warms the SDK (loaded here anyway) before the fork; node starts next, as it mostly waits.
    parts = list(pool.in_order(work, [0, -1, *range(1, len(models))], workers, warm_first=True))
    node = parts.pop(1)
    return [record for part in parts for record in part] + node
