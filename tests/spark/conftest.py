"""One local Spark session for the batch tests: 2 cores, 4 shuffle partitions, the venv's Python for the workers."""

from __future__ import annotations

import os
import sys

import pytest


@pytest.fixture(scope="session")
def spark():
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from headcount.batch.session import local_spark

    session = local_spark(cores="2", shuffle_partitions=4, driver_memory="1g")
    yield session
    session.stop()


def pytest_configure(config):
    # PySpark 3.5 checks pandas/pyarrow versions with distutils' LooseVersion on every Arrow call.
    config.addinivalue_line("filterwarnings", r"ignore:distutils Version classes are deprecated:DeprecationWarning")
    # assertDataFrameEqual tries pyspark.pandas (absent on pandas 3) and goes on without it
    config.addinivalue_line("filterwarnings", r"ignore:'PYARROW_IGNORE_TIMEZONE' environment variable:UserWarning")
