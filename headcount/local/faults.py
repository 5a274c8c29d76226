"""Service faults for the local stack's reliability tests and soak: a share of a client's calls answered with an AWS
error before they are sent (botocore's `before-send` event), so the client's own retries, and the code above them, see
what they would see from AWS. Never used unless asked for (`WorkerSettings.faults`, the tests)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from botocore.awsrequest import AWSResponse

ERRORS = {
    "throttled": (400, "ProvisionedThroughputExceededException", "Rate of requests exceeds the allowed throughput."),
    "internal": (500, "InternalServerError", "Internal server error"),
    "unavailable": (503, "ServiceUnavailable", "Service unavailable"),
    "expired": (400, "ExpiredIteratorException", "Iterator expired"),  # Kinesis, an iterator over 5 minutes old
}


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_kwargs: object):
        yield self.data


@dataclass
class Faults:
    """Answers `share` of the calls to `operations` with one of `kinds` (seeded: the same faults for the same seed), and the
    `burst - 1` calls after each as well (an outage longer than the client's retries)."""

    share: float
    kinds: tuple[str, ...] = ("throttled", "internal", "unavailable")
    operations: tuple[str, ...] = ()  # empty: every operation
    seed: int = 7
    burst: int = 1
    injected: int = 0
    _rng: random.Random = field(init=False, repr=False)
    _pending: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def attach(self, client) -> Faults:  # noqa: ANN001 - a boto3 client
        client.meta.events.register(f"before-send.{client.meta.service_model.endpoint_prefix}", self)
        return self

    def __call__(self, request, **_kwargs: object) -> AWSResponse | None:  # noqa: ANN001 - botocore's AWSPreparedRequest
        operation = (request.headers.get("X-Amz-Target") or b"").decode().rsplit(".", 1)[-1]
        if self.operations and operation not in self.operations:
            return None
        if not self._pending:
            if self._rng.random() >= self.share:
                return None
            self._pending = [self._rng.choice(self.kinds)] * self.burst
        self.injected += 1
        status, code, message = ERRORS[self._pending.pop()]
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "fault"}
        return AWSResponse(request.url, status, headers, _Body(body))
