"""The Lambda bundle, made without Docker (pip is stood in for: the tests never reach the network)."""

import hashlib
from pathlib import Path

from infra.lambda_function import REPO_ROOT, LocalPythonBundling, bundle_hash


def test_local_bundling_copies_the_packages_beside_the_requirements(tmp_path):
    # Given requirements already installed for the Lambda platform (what pip --target would leave)
    installed = tmp_path / "deps"
    (installed / "orjson").mkdir(parents=True)
    (installed / "orjson" / "__init__.py").write_text("VERSION = 'stand-in'\n")
    key = hashlib.sha256((REPO_ROOT / "requirements.txt").read_bytes()).hexdigest()
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
    assert "requirements.txt" in files
    assert "functions/fold/handler.py" in files
    assert "headcount/core/events.py" in files
    assert not any("__pycache__" in f for f in files)
    assert all(Path(REPO_ROOT, f).is_file() for f in files)
