"""moto server for the local stack, its DynamoDB Query reading the one partition asked for, as DynamoDB does.

moto 5's `Table.query` sorts and filters every item of the table to answer a Query of one partition key, so a
local read's time grows with everything the table holds (the fold's quarter-hour items, a year of publications),
not with what it returns. DynamoDB reads the partition only. `patch()` keeps moto's own Query (its key conditions,
order, pages, limits, filters and projections) and hands it the partition's items where it asks for the table's:
the answers are moto's, item for item (tests/unit/test_moto_server.py compares them), only sooner. A Query of an
index, a Scan and everything else are moto's, untouched.

`python -m headcount.local.moto_server -H 127.0.0.1 -p PORT` is `python -m moto.server` with the patch.
"""

from __future__ import annotations

import contextvars
import functools
import sys
from typing import Any

# (table, partition key) of the Query being answered in this thread (moto's server answers each request on its own)
_PARTITION: contextvars.ContextVar[tuple[Any, Any] | None] = contextvars.ContextVar("partition", default=None)


def is_patched() -> bool:
    from moto.dynamodb.models.table import Table

    return getattr(Table.query, "reads_one_partition", False)


def patch() -> None:
    """Make moto's DynamoDB Query of a table's partition key read that partition only (idempotent)."""
    from moto.dynamodb.models.table import Table

    if is_patched():
        return
    moto_query, moto_all_items = Table.query, Table.all_items

    @functools.wraps(moto_query)
    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name or hash_key is None:
            return moto_query(self, hash_key, *args, **kwargs)
        token = _PARTITION.set((self, hash_key))
        try:
            return moto_query(self, hash_key, *args, **kwargs)
        finally:
            _PARTITION.reset(token)

    @functools.wraps(moto_all_items)
    def all_items(self: Table) -> list:
        asked = _PARTITION.get()
        if asked is None or asked[0] is not self:
            return moto_all_items(self)
        partition = self.items.get(asked[1])  # not self.items[...]: a defaultdict would add the key
        if partition is None:
            return []
        if not self.range_key_attr:
            return [partition]
        return sorted(partition.values(), key=lambda item: item.range_key)

    query.reads_one_partition = True  # type: ignore[attr-defined]
    Table.query, Table.all_items = query, all_items  # type: ignore[method-assign]


def unpatch() -> None:
    """moto's own Query again (the tests compare the two)."""
    from moto.dynamodb.models.table import Table

    if is_patched():
        Table.query, Table.all_items = Table.query.__wrapped__, Table.all_items.__wrapped__  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> None:
    patch()
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
