"""PySpark's `assertDataFrameEqual`, loaded without `pyspark.testing`'s package init: that init imports
`pyspark.pandas`, which fails on pandas 3 (the venv's pin), while `pyspark/testing/utils.py` itself needs no pandas."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pyspark

_spec = importlib.util.spec_from_file_location(
    "headcount_tests_pyspark_testing_utils", Path(pyspark.__file__).parent / "testing" / "utils.py"
)
assert _spec is not None and _spec.loader is not None
_utils = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_utils)

assertDataFrameEqual = _utils.assertDataFrameEqual  # noqa: N816 - PySpark's name
