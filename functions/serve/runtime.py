"""What every route of the serve function takes: its runtime, built once per container from its settings
(headcount/runtimes.py), and the moment its request was received."""

from __future__ import annotations

import gc
import time
from functools import lru_cache

from aws_lambda_powertools.event_handler.api_gateway import Router

from headcount.runtimes import ServeRuntime, serve_runtime
from headcount.settings import Settings


@lru_cache(maxsize=1)
def runtime() -> ServeRuntime:
    built = serve_runtime(Settings())
    # What the function holds for its life (modules, models, clients) out of the cycle collector's way: a year of
    # hourly points allocates enough to set off full collections, which walked all of it (bench-api: p99 halved)
    gc.freeze()
    return built


def received_ms(router: Router) -> int:
    """When API Gateway received the request (`requestTimeEpoch`, ms): "now" for `today`/`yesterday` and the arrival
    of posted events, so a test gives the time with the event. The REST API always sends it; the wall clock stands in
    only for an event without it."""
    received = (router.current_event.get("requestContext") or {}).get("requestTimeEpoch")
    return int(received) if received else int(time.time() * 1000)
