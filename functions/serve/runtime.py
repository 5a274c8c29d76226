"""The serve function's runtime, built once per container from its settings (headcount/runtimes.py) and shared by
every route."""

from __future__ import annotations

import gc
from functools import lru_cache

from headcount.runtimes import ServeRuntime, serve_runtime
from headcount.settings import Settings


@lru_cache(maxsize=1)
def runtime() -> ServeRuntime:
    built = serve_runtime(Settings())
    # What the function holds for its life (modules, models, clients) out of the cycle collector's way: a year of
    # hourly points allocates enough to set off full collections, which walked all of it (bench-api: p99 halved)
    gc.freeze()
    return built
