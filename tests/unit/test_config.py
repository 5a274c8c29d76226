"""Configuration from HEADCOUNT_* variables: read in one typed place, a bad value refused with its name."""

from pathlib import Path

from headcount.cli import main
from headcount.local.config import LocalConfig


def test_the_local_stack_reads_its_variables(monkeypatch, tmp_path: Path) -> None:
    for name in ("HEADCOUNT_MOTO_PORT", "HEADCOUNT_KINESIS_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HEADCOUNT_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("HEADCOUNT_API_PORT", "18081")
    monkeypatch.setenv("HEADCOUNT_SHARDS", "2")
    assert LocalConfig.from_env() == LocalConfig(state_dir=tmp_path, api_port=18081, shards=2)


def test_a_bad_value_stops_the_command_with_the_variables_name(monkeypatch, capsys) -> None:
    monkeypatch.setenv("HEADCOUNT_KINESIS_PORT", "99999")
    assert main(["report"]) == 2
    assert "HEADCOUNT_KINESIS_PORT='99999': Input should be less than or equal to 65535" in capsys.readouterr().err
    monkeypatch.delenv("HEADCOUNT_KINESIS_PORT")
    monkeypatch.setenv("HEADCOUNT_TZ", "Mars/Base")
    assert main(["report"]) == 2
    assert "HEADCOUNT_TZ='Mars/Base'" in (err := capsys.readouterr().err) and "unknown time zone" in err
