"""The KPIs' batched Python stage (`mapInArrow`): a Theta sketch of the players of each key.

Spark 3.5 has no Theta aggregate, so the sketches are built by the Python library the real-time layer uses
(`headcount.core.sketches.theta_of_values`), after Spark has put each key's rows together in one partition.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, groupby
from typing import TYPE_CHECKING

from headcount.core.sketches import theta_of_values

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

CELLS_PER_BATCH = 1024


def theta_by_key(frame: DataFrame, keys: Sequence[str], lg_k: int) -> DataFrame:
    """(keys..., player_id) with one row per player and key -> (keys..., value, sketch): the players of each key, exactly,
    and their Theta sketch of lg_k. Deterministic: a Theta sketch does not depend on the order of its values."""
    from pyspark.sql.types import BinaryType, LongType, StructField, StructType

    schema = StructType(
        [frame.schema[k] for k in keys] + [StructField("value", LongType()), StructField("sketch", BinaryType())]
    )
    together = frame.select(*keys, "player_id").repartition(*keys).sortWithinPartitions(*keys)
    return together.mapInArrow(ThetaByKey(tuple(keys), lg_k), schema)


@dataclass(frozen=True)
class ThetaByKey:
    """The Python stage: rows sorted by key in, one row per key out. Picklable (it is shipped to the Python workers)."""

    keys: tuple[str, ...]
    lg_k: int

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        first = next(batches, None)
        if first is None:
            return
        schema = pa.schema(
            [first.schema.field(k) for k in self.keys]
            + [pa.field("value", pa.int64()), pa.field("sketch", pa.binary())]
        )
        rows = (row for batch in chain([first], batches) for row in _rows(batch, (*self.keys, "player_id")))
        cells: list[tuple] = []
        for key, group in groupby(rows, key=lambda row: row[:-1]):
            players = _Tally(row[-1] for row in group)  # streamed: a key may hold millions of players
            sketch = theta_of_values(players, self.lg_k)
            cells.append((*key, players.n, sketch))
            if len(cells) == CELLS_PER_BATCH:
                yield _batch(cells, schema)
                cells = []
        if cells:
            yield _batch(cells, schema)


def _rows(batch: pa.RecordBatch, names: Sequence[str]) -> Iterator[tuple]:
    return zip(*(batch.column(name).to_pylist() for name in names), strict=True)


class _Tally:
    """The values of an iterable, counted as they go by."""

    def __init__(self, values: Iterable[str]) -> None:
        self.values, self.n = values, 0

    def __iter__(self) -> Iterator[str]:
        for value in self.values:
            self.n += 1
            yield value


def _batch(cells: list[tuple], schema: pa.Schema) -> pa.RecordBatch:
    import pyarrow as pa

    columns = list(zip(*cells, strict=True))
    return pa.RecordBatch.from_arrays(
        [pa.array(column, field.type) for column, field in zip(columns, schema, strict=True)], schema=schema
    )
