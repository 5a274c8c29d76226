"""Shared fixtures. Nothing here reaches beyond 127.0.0.1: AWS calls go to moto, in-process or as a local server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from support.credentials import FUNCTION_AUTH

pytest_plugins = ["support.shifted_clock"]  # `pytest --clock=…`: the whole run under a shifted wall clock

# Fake credentials and no endpoint leaks from the developer's shell: tests never talk to real AWS. Nor does the shell's
# headcount configuration (a reporting zone, a state folder) reach the tests: each test sets what it depends on.
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KINESIS", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)
# Where the tools the S3 lake needs are (the local S3, Spark's S3 connector: headcount/local/s3.py and
# headcount/batch/session.py read these) is no configuration: the Makefile's exports are kept, else its folder's files.
_TOOLS = Path(__file__).resolve().parent.parent / ".tools"
_KEPT = ("HEADCOUNT_MINIO", "HEADCOUNT_SPARK_JARS")
for _name in [name for name in os.environ if name.startswith("HEADCOUNT_") and name not in _KEPT]:
    os.environ.pop(_name)
os.environ.setdefault("HEADCOUNT_MINIO", str(_TOOLS / "bin" / "minio"))
os.environ.setdefault("HEADCOUNT_SPARK_JARS", ",".join(str(jar) for jar in sorted((_TOOLS / "jars").glob("*.jar"))))
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Headcount",
        **FUNCTION_AUTH,  # the serve function's auth settings, as a stack gives them (support/credentials.py)
    }
)

# `make test` runs two workers (pytest-xdist: `-n 2 --no-loadscope-reorder`). Tests that share a fixed port, a whole
# stack or a session fixture bound to one (tests/e2e's stacks, tests/reliability's, tests/spark's local S3) run in one
# worker, a folder each; any other file's tests in one worker, a file each. The longest are handed out first.
_SHARED = ("spark", "e2e", "reliability")
_LONGEST = ("spark", "e2e", "bench/test_benchmarks.py", "reliability")  # ~14, 13, 6 and 3 minutes


def _group(nodeid: str) -> str:
    """`tests/e2e/test_batch.py::test_x` -> `e2e`; `tests/unit/test_zones.py::test_y[UTC]` -> `unit/test_zones.py`."""
    path = nodeid.split("::", 1)[0].split("/")
    path = path[1:] if path[0] == "tests" and len(path) > 1 else path
    return path[0] if path[0] in _SHARED else "/".join(path)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: _LONGEST.index(g) if (g := _group(item.nodeid)) in _LONGEST else len(_LONGEST))


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """pytest-xdist's scheduling by scope, the scope a test's group (its own `loadgroup` does not work with pytest 9:
    it renames `Item._nodeid`, which pytest 9 no longer reads)."""
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    return ByGroup(config, log)


@pytest.fixture
def aws():
    """In-process moto with the stack's tables and queue."""
    from moto import mock_aws

    from headcount import names
    from headcount.local import moto_server, resources
    from headcount.views.aws import client

    moto_server.patch()  # as the local stack's moto: a Query reads its partition only
    client.cache_clear()
    with mock_aws():
        resources.create_table(names.REALTIME_TABLE, ttl_attribute="expires_at")
        resources.create_table(names.BATCH_TABLE)
        resources.create_notifications()
        resources.create_erasures()
        yield
    client.cache_clear()


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for every test that asks: 2 cores, 4 shuffle partitions, the venv's Python for the
    workers."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from headcount.batch.session import local_spark

    session = local_spark(cores="2", shuffle_partitions=4, driver_memory="1g")
    yield session
    session.stop()
