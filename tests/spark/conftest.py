"""The batch tests' warnings filters (their Spark session is the `spark` fixture of tests/conftest.py)."""

from __future__ import annotations


def pytest_configure(config):
    # PySpark 3.5 checks pandas/pyarrow versions with distutils' LooseVersion on every Arrow call.
    config.addinivalue_line("filterwarnings", r"ignore:distutils Version classes are deprecated:DeprecationWarning")
    # assertDataFrameEqual tries pyspark.pandas (absent on pandas 3) and goes on without it
    config.addinivalue_line("filterwarnings", r"ignore:'PYARROW_IGNORE_TIMEZONE' environment variable:UserWarning")
