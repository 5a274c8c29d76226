"""Where the local stack listens and keeps its files, and how the AWS SDK is pointed at it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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

    @classmethod
    def from_env(cls) -> LocalConfig:
        return cls(
            state_dir=Path(os.environ.get("HEADCOUNT_STATE_DIR", ".headcount")).resolve(),
            moto_port=int(os.environ.get("HEADCOUNT_MOTO_PORT", 4566)),
            kinesis_port=int(os.environ.get("HEADCOUNT_KINESIS_PORT", 4567)),
            api_port=int(os.environ.get("HEADCOUNT_API_PORT", 8080)),
            shards=int(os.environ.get("HEADCOUNT_SHARDS", names.STREAM_SHARDS)),
        )

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
        from headcount.aws import client

        client.cache_clear()
