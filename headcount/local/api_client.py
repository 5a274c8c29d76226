"""Posting events to the REST API as a game client does: `POST /v1/events`, resending exactly what the API says to.

Requests hold at most 500 events and 1 MiB (the API's limits, `headcount.logic.ingest`), a few threads post them, each
over its own connection (kept alive where the server allows it). What the answer lists as rejected is handled by its
reason:

- `stream_throttled` (the stream refused it until the request's time was up): resent, after a short growing backoff;
- `stream_unconfirmed` (the stream did not answer: it may be in): counted, never resent (it could count twice);
- a validator's reason (`not_json`, `bad_ts`, ...): counted by reason, never resent (it would be rejected again).

A request the API took none of (503, 429) is sent again whole, and so is one that got no answer (connection refused or
lost, timeout, 502/504 from the gateway); those that may have been taken before the answer was lost are counted
apart (`resent_unanswered`: they may count twice in real time). A request goes out again at most `attempts` times in a
row without taking anything in; then ApiUnavailable, with what was and was not delivered. Any other answer (400, 403,
413) is an error of the sender: ApiRefused, at once.

Only the standard library: the sender is what a test or a script needs to feed the API, and `requests` is not a
runtime dependency.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson

from headcount.core.events import event_lines
from headcount.logic.ingest import MAX_BODY_BYTES, MAX_EVENTS, STREAM_THROTTLED, STREAM_UNCONFIRMED

PATH = "/v1/events"
_OPEN, _SEP, _CLOSE = b'{"events":[', b",", b"]}"
ANSWER_TIMEOUT_S = 35.0  # API Gateway gives up on the function at 29 s and answers 504: wait for that answer
NOT_TAKEN = frozenset({429, 503})  # the API took none of the request's events: safe to send again
NO_ANSWER = frozenset({502, 504})  # the gateway lost the function's answer: the events may be in


class ApiError(RuntimeError):
    """The API did not take the events."""


class ApiRefused(ApiError):
    """An answer that sending again cannot change (a wrong key, a malformed request): a fault of the sender."""


class ApiUnavailable(ApiError):
    """Events the API still had not taken after every attempt (it throttles, it is down, or it is not there)."""


@dataclass
class SendReport:
    """What became of the events given to `EventSender.send`."""

    events: int = 0
    accepted: int = 0  # in the stream
    rejected: Counter[str] = field(default_factory=Counter)  # by the validator's reason: not resent
    unconfirmed: int = 0  # stream_unconfirmed: may be in, not resent
    unsendable: int = 0  # a single event larger than a request may be: never sent
    resent_throttled: int = 0  # events sent again after stream_throttled
    resent_not_taken: int = 0  # events sent again after a 503 or 429 (the API took none of the request)
    resent_unanswered: int = 0  # events sent again after a request got no answer: they may be in twice
    requests: int = 0
    seconds: float = 0.0

    @property
    def done(self) -> int:
        """Events with a final outcome (accepted, rejected, unconfirmed or unsendable)."""
        return self.accepted + sum(self.rejected.values()) + self.unconfirmed + self.unsendable

    def summary(self) -> str:
        rate = self.done / self.seconds if self.seconds > 0 else 0.0
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in sorted(self.rejected.items())) or "none"
        parts = [
            f"{self.accepted:,} accepted",
            f"{sum(self.rejected.values()):,} rejected ({reasons})",
            f"{self.unconfirmed:,} {STREAM_UNCONFIRMED} (may be in, not resent)",
            f"{self.resent_throttled:,} resent after {STREAM_THROTTLED}",
        ]
        if self.resent_not_taken:
            parts.append(f"{self.resent_not_taken:,} resent after a 503/429")
        if self.resent_unanswered:
            parts.append(f"{self.resent_unanswered:,} resent after no answer (they may count twice in real time)")
        if self.unsendable:
            parts.append(f"{self.unsendable:,} too large for any request, not sent")
        return (
            f"posted {self.done:,} events in {self.seconds:.1f} s ({rate:,.0f} events/s, {self.requests:,} requests): "
            + "; ".join(parts)
        )


def request_body(values: Sequence[bytes]) -> bytes:
    """`{"events": [...]}` of events that are JSON values already (their bytes as they are: nothing re-serialized)."""
    return _OPEN + _SEP.join(values) + _CLOSE


def plan_requests(
    values: Sequence[bytes], max_events: int = MAX_EVENTS, max_body: int = MAX_BODY_BYTES
) -> tuple[list[list[int]], list[int]]:
    """The events' indices cut into requests of at most `max_events` events and `max_body` bytes of body, in order;
    and the indices of events too large for any request."""
    requests: list[list[int]] = []
    too_large: list[int] = []
    current: list[int] = []
    size = len(_OPEN) + len(_CLOSE)
    for index, value in enumerate(values):
        if len(_OPEN) + len(value) + len(_CLOSE) > max_body:
            too_large.append(index)
            continue
        grown = size + len(value) + (len(_SEP) if current else 0)
        if current and (len(current) == max_events or grown > max_body):
            requests.append(current)
            current, grown = [], len(_OPEN) + len(value) + len(_CLOSE)
        current.append(index)
        size = grown
    if current:
        requests.append(current)
    return requests, too_large


@dataclass(frozen=True)
class ApiEvents:
    """Records made into `events` values: each line of a record one value."""

    values: list[bytes]
    as_strings: int  # lines that are not JSON, sent as JSON strings (the API rejects them as not_object)


def api_events(records: Sequence[tuple[bytes, str]]) -> ApiEvents:
    """The events of Kinesis records (newline-terminated JSON lines, see `event_lines`) as JSON values for the
    `events` array: a line that is JSON goes as it is, byte for byte (a repeated key or an odd number reaches the
    validator as the stream would carry it); one that is not JSON cannot be a JSON value, so it goes as a JSON string
    (the API rejects it, as `not_object`, as the fold rejects it as `not_json`: a rejected event either way, not
    counted). The partition key is the API's to choose (the player)."""
    values: list[bytes] = []
    as_strings = 0
    for data, _key in records:
        for line in event_lines(data):
            line = line.rstrip(b"\n")
            try:
                orjson.loads(line)
            except orjson.JSONDecodeError:
                values.append(orjson.dumps(line.decode("utf-8", "replace")))
                as_strings += 1
            else:
                values.append(line)
    return ApiEvents(values, as_strings)


class EventSender:
    """Posts events to `POST /v1/events` of the API at `base_url` (http only: a local API), over `threads` threads."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        threads: int = 4,
        attempts: int = 10,
        backoff_s: float = 0.05,
        max_backoff_s: float = 2.0,
        timeout_s: float = ANSWER_TIMEOUT_S,
        progress: Callable[[int], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"not an http:// URL: {base_url!r}")
        self.base_url, self.host, self.port = base_url, url.hostname, url.port or 80
        self.api_key, self.threads, self.attempts = api_key, threads, attempts
        self.backoff_s, self.max_backoff_s, self.timeout_s = backoff_s, max_backoff_s, timeout_s
        self.progress, self.sleep = progress, sleep
        self._lock = threading.Lock()
        self._failed = threading.Event()
        self._report = SendReport()

    def send(self, values: Sequence[bytes]) -> SendReport:
        """Every event (each a JSON value, e.g. from `api_events`) posted until the API has taken it or rejected it
        for good; ApiUnavailable or ApiRefused when it could not be delivered (nothing more is started then)."""
        requests, too_large = plan_requests(values)
        self._report, self._failed = SendReport(events=len(values), unsendable=len(too_large)), threading.Event()
        started = time.monotonic()
        todo: Iterator[list[int]] = iter(requests)

        def worker() -> None:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
            try:
                while not self._failed.is_set():
                    with self._lock:
                        batch = next(todo, None)
                    if batch is None:
                        return
                    self._deliver(connection, values, batch)
            except BaseException:
                self._failed.set()
                raise
            finally:
                connection.close()

        workers = max(1, min(self.threads, len(requests)))
        with ThreadPoolExecutor(workers, thread_name_prefix="post") as pool:
            futures = [pool.submit(worker) for _ in range(workers)]
        self._report.seconds = time.monotonic() - started
        errors = [error for f in futures if (error := f.exception()) is not None]
        if errors:
            report, error = self._report, errors[0]
            if not isinstance(error, ApiError):
                raise error
            raise type(error)(
                f"{error} (of {report.events:,} events, {report.done:,} delivered: {report.accepted:,} accepted; "
                f"{report.events - report.done:,} not delivered; {report.requests:,} requests)"
            ) from error
        return self._report

    def _deliver(self, connection: http.client.HTTPConnection, values: Sequence[bytes], batch: list[int]) -> None:
        """One request's events, until each is taken or rejected for good: the throttled ones sent again."""
        pending, retries, fruitless = batch, 0, 0
        while True:
            status, answer, failure = self._post(connection, [values[i] for i in pending])
            resend = pending
            if status == 200:
                resend = self._settle(pending, answer)
                progressed = len(resend) < len(pending)
                counter = "resent_throttled"
            elif status in NOT_TAKEN:
                progressed, counter = False, "resent_not_taken"
            elif status is None or status in NO_ANSWER:
                progressed, counter = False, "resent_unanswered"
            else:
                raise ApiRefused(f"the API at {self.base_url} refused a request of {len(pending)} events: {failure}")
            if not resend:
                return
            fruitless = 0 if progressed else fruitless + 1
            if fruitless >= self.attempts:
                raise ApiUnavailable(
                    f"the API at {self.base_url} did not take {len(resend):,} events in {self.attempts} attempts in a "
                    f"row (last: {failure})"
                )
            with self._lock:
                setattr(self._report, counter, getattr(self._report, counter) + len(resend))
            self.sleep(random.uniform(0.5, 1.0) * min(self.max_backoff_s, self.backoff_s * 2**retries))
            pending, retries = resend, retries + 1

    def _settle(self, pending: list[int], answer: dict) -> list[int]:
        """Count a 200 answer's outcomes; the indices (into the events) to send again: the throttled ones."""
        rejected = answer.get("rejected")
        if not isinstance(answer.get("accepted"), int) or not isinstance(rejected, list):
            raise ApiRefused(f"the API at {self.base_url} answered 200 without accepted/rejected: {answer}")
        if answer["accepted"] + len(rejected) != len(pending):
            raise ApiRefused(
                f"the API at {self.base_url} answered for {answer['accepted'] + len(rejected)} of {len(pending)} events"
            )
        throttled: list[int] = []
        unconfirmed = 0
        reasons: Counter[str] = Counter()
        for entry in rejected:
            index, reason = (entry.get("index"), entry.get("reason")) if isinstance(entry, dict) else (None, None)
            if not isinstance(index, int) or not 0 <= index < len(pending) or not isinstance(reason, str):
                raise ApiRefused(f"the API at {self.base_url} answered a rejection it cannot have made: {entry}")
            if reason == STREAM_THROTTLED:
                throttled.append(pending[index])
            elif reason == STREAM_UNCONFIRMED:
                unconfirmed += 1
            else:
                reasons[reason] += 1
        with self._lock:
            report = self._report
            report.accepted += answer["accepted"]
            report.unconfirmed += unconfirmed
            report.rejected.update(reasons)
            done = report.done
            if self.progress:
                self.progress(done)
        return throttled

    def _post(self, connection: http.client.HTTPConnection, values: list[bytes]) -> tuple[int | None, dict, str]:
        """One request: (status, the answer's JSON, what went wrong), status None when there was no answer."""
        with self._lock:
            self._report.requests += 1
        body = request_body(values)
        headers = {"content-type": "application/json", "x-api-key": self.api_key}
        try:
            connection.request("POST", PATH, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, closed mid-answer
            connection.close()  # the next request opens a fresh connection
            return None, {}, f"no answer: {type(exc).__name__}: {exc}"
        if response.will_close:
            connection.close()
        try:
            answer = json.loads(data)
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
        failure = f"{response.status} {error.get('code', '')}: {error.get('message') or answer.get('message') or ''}"
        return response.status, answer, failure.strip()
