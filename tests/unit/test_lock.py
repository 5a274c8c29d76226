"""requirements.lock against the requirements and the venv: the Lambda bundle and the Glue job's wheels install the lock,
so the tests must run its versions (`make lock` writes it, `make` installs the venv constrained to it)."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from infra.lock import LOCK, locked, normalize

ROOT = Path(__file__).resolve().parents[2]


def pins(*files: str) -> dict[str, str]:
    """`name==version` lines of these requirement files, by normalized name (extras dropped)."""
    found = {}
    for name in files:
        for line in (ROOT / name).read_text().splitlines():
            match = re.match(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", line.strip())
            if match:
                found[normalize(match[1])] = match[2]
    return found


def test_every_pin_of_requirements_txt_is_locked_at_its_version():
    # Given the pins the functions need, and the lock
    required, lock = pins("requirements.txt"), locked()
    # Then the lock has each of them at the same version (else: `make lock`)
    assert {name: lock[name].version if name in lock else None for name in required} == required


def test_every_locked_package_is_pinned_with_its_hashes():
    lock = locked()
    assert lock, LOCK
    for entry in lock.values():
        assert entry.hashes, entry.name
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in entry.hashes), entry.name


def test_the_other_requirements_pin_locked_packages_at_the_locks_versions():
    # requirements-local.txt pins numpy for pandas and pyarrow: another version than the lock's would be tested, not
    # the one shipped
    lock, other = locked(), pins("requirements-local.txt", "requirements-dev.txt")
    both = other.keys() & lock.keys()
    assert {name: other[name] for name in both} == {name: lock[name].version for name in both}


def test_the_venv_runs_the_locked_versions():
    # Given every package the lock has (the venv installs requirements.txt, so each of them)
    installed = {}
    for entry in locked().values():
        try:
            installed[entry.name] = metadata.version(entry.name)
        except metadata.PackageNotFoundError:
            installed[entry.name] = None
    # Then each is installed at the lock's version (else: `make`, which installs the venv constrained to the lock)
    assert installed == {entry.name: entry.version for entry in locked().values()}


def test_the_lock_is_exactly_what_requirements_txt_needs():
    # Given the packages requirements.txt names and, through the installed packages' metadata (the lock's versions,
    # the test above), everything they require on Lambda's platform (Python 3.11, Linux, no extras)
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    environment = {**default_environment(), "python_version": "3.11", "sys_platform": "linux", "extra": ""}
    needed, pending = set(), list(pins("requirements.txt"))
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        needed.add(name)
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                pending.append(normalize(requirement.name))
    # Then the lock holds those and no others: a package dropped from requirements.txt leaves it too (`make lock`)
    assert sorted(locked()) == sorted(needed)
