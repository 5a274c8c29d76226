"""The Lambda bundle, made without Docker (pip is stood in for: the tests never reach the network)."""

import hashlib
import shutil
from pathlib import Path

import pytest

from infra import lambda_function
from infra.lambda_function import (
    _BUNDLING,
    DASHBOARD,
    LOCK,
    PIP_PLATFORM,
    REPO_ROOT,
    LocalPythonBundling,
    VendoredFilesMissing,
    bundle_hash,
    require_vendored,
)
from tests.infra.conftest import DEPLOY_ENV, cdk_context, synthesize


def test_local_bundling_copies_the_packages_beside_the_requirements(tmp_path):
    # Given requirements already installed for the Lambda platform (what pip --target would leave)
    installed = tmp_path / "deps"
    (installed / "orjson").mkdir(parents=True)
    (installed / "orjson" / "__init__.py").write_text("VERSION = 'stand-in'\n")
    key = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    saved = dict(LocalPythonBundling._installed)
    LocalPythonBundling._installed[key] = installed
    out = tmp_path / "out"
    out.mkdir()
    try:
        # When the local bundler runs
        assert LocalPythonBundling().try_bundle(str(out)) is True
    finally:
        LocalPythonBundling._installed.clear()
        LocalPythonBundling._installed.update(saved)
    # Then the handlers, the package and the dependencies sit at the bundle's root, compiled
    assert (out / "functions" / "fold" / "handler.py").is_file()
    assert (out / "functions" / "serve" / "handler.py").is_file()
    assert (out / "headcount" / "catalog.json").is_file()
    # and the dashboard the serve function answers at / with its vendored libraries (copied in by make)
    assert (out / "headcount" / "dashboard" / "index.html").is_file()
    assert (out / "headcount" / "dashboard" / "vendor" / "uPlot.iife.min.js").is_file()
    assert (out / "orjson" / "__init__.py").is_file()
    assert list((out / "headcount" / "__pycache__").glob("*.cpython-*.pyc"))


def test_bundle_hash_follows_the_sources(monkeypatch, tmp_path):
    # Given the bundle's sources (one file here)
    from infra import lambda_function

    source = tmp_path / "handler.py"
    source.write_text("x = 1\n")
    monkeypatch.setattr(lambda_function, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(lambda_function, "_source_files", lambda: [source])
    first = bundle_hash()
    # Then the same sources give the same hash, and an edit a new one
    assert len(first) == 64 and bundle_hash() == first
    source.write_text("x = 2\n")
    assert bundle_hash() != first


def test_bundle_hash_covers_requirements_and_both_packages():
    from infra.lambda_function import _source_files

    files = {str(p.relative_to(REPO_ROOT)) for p in _source_files()}
    assert "requirements.lock" in files  # a new resolution is a new bundle
    assert "functions/fold/handler.py" in files
    assert "headcount/core/events.py" in files
    assert not any("__pycache__" in f for f in files)
    assert all(Path(REPO_ROOT, f).is_file() for f in files)


def test_the_bundle_installs_exactly_the_lock(monkeypatch, tmp_path):
    # Given pip stood in for
    commands = []
    monkeypatch.setattr(lambda_function.subprocess, "run", lambda command, **_: commands.append(command))
    monkeypatch.setattr(lambda_function.tempfile, "mkdtemp", lambda **_: str(tmp_path))
    monkeypatch.setattr(LocalPythonBundling, "_installed", {})
    # When the local bundler installs the requirements
    LocalPythonBundling()._requirements()
    # Then pip installs the lock, hash-checked, resolving nothing, binary wheels for the Lambda platform
    (command,) = commands
    assert command[command.index("-r") + 1] == str(LOCK)
    assert {"--require-hashes", "--no-deps", "--only-binary=:all:", *PIP_PLATFORM} <= set(command)
    # and so would the Docker fallback
    assert "pip install --require-hashes --no-deps --only-binary=:all: -r requirements.lock " in _BUNDLING.command[-1]


def _pages_without_vendor(tmp_path: Path) -> Path:
    dashboard = tmp_path / "dashboard"
    dashboard.mkdir()
    for page in DASHBOARD.glob("*.html"):
        shutil.copy(page, dashboard)
    (dashboard / "vendor").mkdir()
    return dashboard


def test_no_bundle_without_the_dashboards_vendored_files(tmp_path):
    # Given the dashboard's pages, and an empty vendor/ (`make` not run)
    dashboard = _pages_without_vendor(tmp_path)
    # Then the check names each file the pages load and says what copies them
    with pytest.raises(VendoredFilesMissing, match="run `make`") as refused:
        require_vendored(dashboard)
    for name in ("uPlot.iife.min.js", "uPlot.min.css", "swagger-ui-bundle.js", "swagger-ui.css"):
        assert name in str(refused.value)
    # and once they are there, it passes
    for name in ("uPlot.iife.min.js", "uPlot.min.css", "swagger-ui-bundle.js", "swagger-ui.css"):
        (dashboard / "vendor" / name).write_text("/* stand-in */")
    require_vendored(dashboard)


def test_synth_fails_without_the_vendored_files(monkeypatch, tmp_path):
    # Given a dashboard whose vendor/ is empty
    monkeypatch.setattr(lambda_function, "DASHBOARD", _pages_without_vendor(tmp_path))
    # When the app is synthesized / Then it refuses, before any function's bundle is made
    with pytest.raises(VendoredFilesMissing, match="run `make`"):
        synthesize(tmp_path / "cdk.out", cdk_context(), DEPLOY_ENV)
