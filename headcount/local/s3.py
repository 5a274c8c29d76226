"""The local S3: a MinIO server on 127.0.0.1, its objects in a folder, for the lake when HEADCOUNT_LAKE=s3.

Chosen for what the nightly job does to S3 and what the lake is: Spark's S3A writes through multipart uploads, commits
by copying and deleting objects (a "rename"), deletes in bulk and lists prefixes with and without a delimiter, and
Glue's file system leaves zero-byte `<dir>_$folder$` and `<dir>/` marker objects that every reader must skip. MinIO
answers all of these as S3 does (S3Proxy's file-system store, tried first, turned a zero-byte `a_$folder$` object
into a folder, listed folder markers without a size and refused boto3's DeleteObjects). And the lake is the master
copy: MinIO keeps every object on disk, so a killed emulator loses nothing (moto keeps everything in memory). The
Makefile builds it from its Go module (HEADCOUNT_MINIO names the binary).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

# MinIO's root credentials, which the lake's clients (boto3, pyarrow, S3A) send as AWS_ACCESS_KEY_ID/SECRET: moto and
# kinesalite take any, MinIO wants a secret of 8 characters at least.
ACCESS_KEY = "headcount-local"
SECRET_KEY = "headcount-local-secret"  # noqa: S105 - the local emulator's, never an AWS credential


def minio_binary() -> str:
    binary = os.environ.get("HEADCOUNT_MINIO") or shutil.which("minio")
    if not binary or not os.access(binary, os.X_OK):
        raise FileNotFoundError(
            "the local S3 (MinIO) is not built: `make` builds it into .tools/bin/minio (HEADCOUNT_MINIO names it)"
        )
    return binary


def minio_command(data_dir: Path, port: int) -> list[str]:
    return [minio_binary(), "server", str(data_dir), "--address", f"127.0.0.1:{port}", "--quiet"]


def minio_environment() -> dict[str, str]:
    return {
        **os.environ,
        "MINIO_ROOT_USER": ACCESS_KEY,
        "MINIO_ROOT_PASSWORD": SECRET_KEY,
        "MINIO_BROWSER": "off",  # no web console
        "MINIO_UPDATE": "off",  # never looks for a newer release
    }


def create_bucket(endpoint: str, bucket: str) -> None:
    import boto3
    from botocore.exceptions import ClientError

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


class LocalS3:
    """A MinIO server over `data_dir` on 127.0.0.1:`port`; its objects outlive it."""

    def __init__(self, data_dir: str | Path, port: int, log: Path | None = None) -> None:
        self.data_dir, self.port = Path(data_dir), port
        self.log = log or self.data_dir.with_name(f"{self.data_dir.name}.log")
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> LocalS3:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                minio_command(self.data_dir, self.port), env=minio_environment(), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"MinIO exited with {self.process.returncode}: see {self.log}")
            if self.live():
                return self
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"MinIO did not answer on {self.endpoint} within {timeout_s:.0f} s: see {self.log}")

    def live(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/minio/health/live", timeout=1) as answer:  # noqa: S310
                return bool(answer.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def environment(self) -> dict[str, str]:
        """The variables that point boto3, pyarrow and Spark's S3A (ours and the handlers') at this S3."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def create_bucket(self, bucket: str) -> None:
        create_bucket(self.endpoint, bucket)
