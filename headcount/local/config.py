"""Where the local stack listens and keeps its files, and how the AWS SDK is pointed at it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from headcount import names


@dataclass(frozen=True)
class LocalConfig:
    state_dir: Path = Path(".headcount")
    moto_port: int = 4566
    kinesis_port: int = 4567
    api_port: int = 8080
    shards: int = names.STREAM_SHARDS

    @property
    def kinesis_dir(self) -> Path:
        return self.state_dir / "kinesis"

    @property
    def lake_dir(self) -> Path:
        return self.state_dir / "lake"

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
    def control_dir(self) -> Path:
        """Requests to the running stack (`headcount replay`'s)."""
        return self.state_dir / "control"

    @classmethod
    def from_env(cls) -> LocalConfig:
        """From HEADCOUNT_STATE_DIR, HEADCOUNT_MOTO_PORT, HEADCOUNT_KINESIS_PORT, HEADCOUNT_API_PORT, HEADCOUNT_SHARDS."""
        env = _LocalEnvironment()
        return cls(env.state_dir.resolve(), env.moto_port, env.kinesis_port, env.api_port, env.shards)

    def aws_environment(self) -> dict[str, str]:
        """The variables that point boto3 (ours and the handlers') at the emulators, never at AWS."""
        return {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.moto_port}",
            "AWS_ENDPOINT_URL_KINESIS": f"http://127.0.0.1:{self.kinesis_port}",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": names.REGION,
            "AWS_REGION": names.REGION,
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
