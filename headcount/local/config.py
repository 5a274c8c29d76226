"""Where the local stack listens and keeps its files, and how the AWS SDK is pointed at it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from headcount import names
from headcount.local import s3

LAKE_BUCKET = "headcount-lake"  # the local S3's bucket of the lake (HEADCOUNT_LAKE=s3)


@dataclass(frozen=True)
class LocalConfig:
    state_dir: Path = Path(".headcount")
    moto_port: int = 4566
    kinesis_port: int = 4567
    api_port: int = 8080
    shards: int = names.STREAM_SHARDS
    # The lake: a folder of the state folder, or (`s3`) a bucket of a local S3 (MinIO, headcount/local/s3.py) on
    # s3_port, its objects in the state folder too: the job then reads and writes S3 as on Glue.
    lake_kind: Literal["folder", "s3"] = "folder"
    s3_port: int = 4569
    # The local sink (headcount/local/sink.py): where the local Slack and webhook channels send, recorded
    sink_port: int = 8091

    @property
    def kinesis_dir(self) -> Path:
        return self.state_dir / "kinesis"

    @property
    def lake_dir(self) -> Path:
        return self.state_dir / "lake"

    @property
    def s3_dir(self) -> Path:
        return self.state_dir / "s3"

    @property
    def lake(self) -> str:
        """The lake's URI: the folder, or the local S3's bucket."""
        return f"s3://{LAKE_BUCKET}" if self.lake_kind == "s3" else str(self.lake_dir)

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def checkpoint_dir(self) -> Path:
        return self.state_dir / "checkpoints"

    @property
    def pid_dir(self) -> Path:
        return self.state_dir / "pids"

    @property
    def sink_path(self) -> Path:
        """What the local sink received, a JSON line each."""
        return self.state_dir / "sink" / "received.jsonl"

    @property
    def control_dir(self) -> Path:
        """Requests to the running stack (`headcount replay`'s)."""
        return self.state_dir / "control"

    @classmethod
    def from_env(cls) -> LocalConfig:
        """From HEADCOUNT_STATE_DIR, HEADCOUNT_MOTO_PORT, HEADCOUNT_KINESIS_PORT, HEADCOUNT_API_PORT, HEADCOUNT_SHARDS,
        HEADCOUNT_LAKE (folder or s3), HEADCOUNT_S3_PORT and HEADCOUNT_SINK_PORT."""
        env = _LocalEnvironment()
        return cls(
            env.state_dir.resolve(),
            env.moto_port,
            env.kinesis_port,
            env.api_port,
            env.shards,
            env.lake,
            env.s3_port,
            env.sink_port,
        )

    def aws_environment(self) -> dict[str, str]:
        """The variables that point boto3 (ours and the handlers') at the emulators, never at AWS."""
        return {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.moto_port}",
            "AWS_ENDPOINT_URL_KINESIS": f"http://127.0.0.1:{self.kinesis_port}",
            # moto and kinesalite take any credentials; the local S3 its own
            "AWS_ACCESS_KEY_ID": s3.ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": s3.SECRET_KEY,
            "AWS_DEFAULT_REGION": names.REGION,
            "AWS_REGION": names.REGION,
            **({"AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{self.s3_port}"} if self.lake_kind == "s3" else {}),
        }

    def apply_aws_environment(self) -> None:
        os.environ.update(self.aws_environment())
        from headcount.views.aws import client

        client.cache_clear()


Port = Annotated[int, Field(ge=1, le=65535)]


class _LocalEnvironment(BaseSettings):
    """The local stack's part of the HEADCOUNT_* variables, validated (a typo fails with the variable's name)."""

    model_config = SettingsConfigDict(env_prefix="HEADCOUNT_", extra="ignore")

    state_dir: Path = LocalConfig.state_dir
    moto_port: Port = LocalConfig.moto_port
    kinesis_port: Port = LocalConfig.kinesis_port
    api_port: Port = LocalConfig.api_port
    shards: Annotated[int, Field(ge=1, le=64)] = LocalConfig.shards
    lake: Literal["folder", "s3"] = LocalConfig.lake_kind
    s3_port: Port = LocalConfig.s3_port
    sink_port: Port = LocalConfig.sink_port
