"""Requests to forget players: taking one (the admin route and `headcount forget`), its receipt, and how late the open
ones are (the business function's metric, which the alarm watches). The erasure itself is the nightly job's
(headcount/batch/erasure.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from headcount.core.erasure import DAY_MS, Receipt, canonical_ids
from headcount.views.erasure_store import ErasureStore

logger = logging.getLogger(__name__)


def request_erasure(store: ErasureStore, player_ids: list[object], now_ms: int, no_more: bool = False) -> Receipt:
    """Take a request (BadErasure for bad ids): its receipt, pending until the nightly run's batch. With `no_more` the
    players' events are dropped from now on, at ingest and in the job."""
    ids = canonical_ids(player_ids)
    receipt = Receipt.new(ids, now_ms, no_more)
    if no_more:  # first: a request on record always has its block in place
        store.block(ids)
    store.add(receipt, ids)
    return receipt


@dataclass(frozen=True)
class Lateness:
    open: int  # requests not done
    overdue: int  # of them, older than the deadline
    oldest_hours: float  # the age of the oldest open one (0 when none)


def lateness(store: ErasureStore, now_ms: int, deadline_days: int) -> Lateness:
    ages = [now_ms - receipt.requested_ms for receipt, _ids in store.open_requests()]
    return Lateness(
        open=len(ages),
        overdue=sum(1 for age in ages if age > deadline_days * DAY_MS),
        oldest_hours=max(ages, default=0) / 3_600_000,
    )


class BlockedPlayers:
    """The players erased with "no more" (their `blocked_hash`), as ingest checks them: read from the store at most
    every `max_age_s` (a Scan of the few blocked items), so a block takes effect within that time. A failed read keeps
    the last list (never fails a request)."""

    def __init__(self, store: ErasureStore, max_age_s: float = 60.0) -> None:
        self.store, self.max_age_s = store, max_age_s
        self._hashes: frozenset[str] = frozenset()
        self._read_at: float | None = None

    def hashes(self, monotonic_now: float) -> frozenset[str]:
        if self._read_at is None or monotonic_now - self._read_at >= self.max_age_s:
            try:
                self._hashes = self.store.blocked()
            except Exception:  # noqa: BLE001 - whatever the store raises: the events still go in
                logger.warning("could not read the blocked players; using the last list", exc_info=True)
            self._read_at = monotonic_now
        return self._hashes
