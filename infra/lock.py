"""requirements.lock: every package requirements.txt needs on the Lambda platform, transitive ones included, each pinned
with the sha256 of its files (`make lock` writes it with uv). The functions' bundle installs exactly it, the Glue job's
wheels are downloaded from it, and the venv is constrained to its versions (the Makefile): the tests run what ships.

No CDK import here: tests/unit/test_lock.py reads the lock with the same parser.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

LOCK = Path(__file__).resolve().parent.parent / "requirements.lock"
PYTHON_VERSION = "3.11"  # Lambda's python3.11 runtime and Glue 5.0's Python
# Lambda's python3.11 runs on Amazon Linux 2 (glibc 2.26): manylinux2014 (glibc 2.17) wheels, which Glue 5.0 (Amazon
# Linux 2023, glibc 2.34) installs too. The lock is resolved for this platform (Makefile, `lock`).
PIP_PLATFORM = ("--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", PYTHON_VERSION)


@dataclass(frozen=True)
class Locked:
    name: str  # normalized (PEP 503), as uv writes it
    version: str
    hashes: tuple[str, ...]  # `sha256:<hex>`, one per file of that version (any platform's)

    def requirement(self) -> str:
        """The entry as a hash-checked requirement line."""
        return " ".join([f"{self.name}=={self.version}", *(f"--hash={h}" for h in self.hashes)])


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(lock: Path = LOCK) -> dict[str, Locked]:
    """The lock's entries by normalized name. Lines are `name==version \\` continued by `--hash=...` lines; comments
    (`# via ...`) are dropped."""
    entries = {}
    text = lock.read_text().replace("\\\n", " ")
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)((?:\s+--hash=\S+)*)", line)
        if match is None:
            raise ValueError(f"{lock.name}: not a pinned requirement: {line}")
        name, version, hashes = normalize(match[1]), match[2], match[3].split()
        entries[name] = Locked(name, version, tuple(h.removeprefix("--hash=") for h in hashes))
    return entries


def wheels(names: Iterable[str], lock: Path = LOCK) -> list[Path]:
    """The locked wheels of these packages for the platform above, one per name, in that order. pip downloads them
    once, checking the lock's hashes, into a temp folder named by the lock's entries for them: a later synth with the
    same entries reuses it without the network."""
    entries = locked(lock)
    wanted = [entries[normalize(name)] for name in names]
    spec = "".join(f"{entry.requirement()}\n" for entry in wanted)
    digest = hashlib.sha256((" ".join(PIP_PLATFORM) + "\n" + spec).encode()).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / "headcount-cdk" / f"wheels-{digest}"
    if not target.exists():
        partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        requirements = partial.with_suffix(".txt")
        requirements.write_text(spec)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",  # the lock names each package it needs
                "--require-hashes",
                *PIP_PLATFORM,
                "--only-binary=:all:",
                "-r",
                str(requirements),
                "--dest",
                str(partial),
            ],
            check=True,
        )
        requirements.unlink()
        try:
            partial.rename(target)
        except OSError:  # another synth finished the same download first: keep its folder
            shutil.rmtree(partial)
    found = {normalize(path.name.split("-", 1)[0]): path for path in target.glob("*.whl")}
    return [found[entry.name] for entry in wanted]
