"""Where a benchmark that starts the local stack runs it: on ports of its own and in a state folder of its own.

Each such benchmark has its default ports (none shared with `headcount up`, the tests or another benchmark, and all
below Linux's ephemeral range, 32768-60999, where an outgoing connection may hold one), and a fresh temporary state
folder, removed at the end. HEADCOUNT_STATE_DIR, HEADCOUNT_MOTO_PORT, HEADCOUNT_KINESIS_PORT and HEADCOUNT_API_PORT
replace them (tests/bench runs each benchmark on ports no other test uses, in its own tmp folder, which it keeps).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from headcount.local.config import LocalConfig


@contextmanager
def stack_config(prefix: str, moto_port: int, kinesis_port: int, api_port: int) -> Iterator[LocalConfig]:
    """The benchmark's LocalConfig: its ports and a new state folder, unless the environment names others."""
    given = os.environ.get("HEADCOUNT_STATE_DIR")
    state = Path(given).resolve() if given else Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield LocalConfig(
            state_dir=state,
            moto_port=int(os.environ.get("HEADCOUNT_MOTO_PORT", moto_port)),
            kinesis_port=int(os.environ.get("HEADCOUNT_KINESIS_PORT", kinesis_port)),
            api_port=int(os.environ.get("HEADCOUNT_API_PORT", api_port)),
            sink_port=int(os.environ.get("HEADCOUNT_SINK_PORT", api_port + 11)),  # not `headcount up`'s 8091
        )
    finally:
        if not given:
            shutil.rmtree(state, ignore_errors=True)
