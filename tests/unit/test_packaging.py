"""What `pip install .` installs: the headcount namespace only, every module of it, and the pinned dependencies; not
the Glue job script (glue_jobs/), which only Glue runs."""

from __future__ import annotations

import ast
import configparser
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Where each source folder lands in the installed package (pyproject.toml's package-dir).
INSTALLED_AS = {"headcount": "headcount", "functions": "headcount/functions"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel pip builds from a clean copy of the sources (offline: the venv's pinned setuptools)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "requirements.txt", "requirements-local.txt"):
        shutil.copy(ROOT / name, source / name)
    for folder in INSTALLED_AS:
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out), "."],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("headcount-*.whl")
    return zipfile.ZipFile(built)


def pins(*files: str) -> list[str]:
    lines = [line.strip() for f in files for line in (ROOT / f).read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_only_the_headcount_namespace_is_installed(wheel) -> None:
    top = {name.split("/", 1)[0] for name in wheel.namelist()}
    assert {t for t in top if not t.endswith(".dist-info")} == {"headcount"}


def test_every_module_the_repo_has_is_in_the_wheel(wheel) -> None:
    # Given every module and data file of both source folders, where the installed package must have it
    expected = {
        f"{INSTALLED_AS[folder]}/{path.relative_to(ROOT / folder).as_posix()}"
        for folder in INSTALLED_AS
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".json", ".js") and "__pycache__" not in path.parts
    }
    # Then the wheel has each of them (a subpackage missing from pyproject.toml's list would be left out)
    assert expected - set(wheel.namelist()) == set()


def test_the_dependencies_are_the_pinned_requirements(wheel) -> None:
    metadata = Parser().parsestr(wheel.read("headcount-0.1.0.dist-info/METADATA").decode())
    declared = metadata.get_all("Requires-Dist")
    assert declared == pins("requirements.txt", "requirements-local.txt")
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[a-z,]+\])?==[0-9][0-9A-Za-z.]*", d) for d in declared), declared


def test_the_console_script_is_headcount(wheel) -> None:
    entry_points = configparser.ConfigParser()
    entry_points.read_string(wheel.read("headcount-0.1.0.dist-info/entry_points.txt").decode())
    assert dict(entry_points["console_scripts"]) == {"headcount": "headcount.cli:main"}


def test_nothing_installed_imports_a_top_level_functions_or_glue_jobs() -> None:
    # Installed, those names do not exist: the package reaches the handlers as headcount.functions, and the Glue script
    # is Glue's alone (the job's code is headcount.batch).
    offenders = []
    for folder in INSTALLED_AS:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                offenders += [
                    f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in ("functions", "glue_jobs")
                ]
    assert offenders == []
