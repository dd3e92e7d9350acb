"""Settings from the environment: forgiving where shells differ, strict where values are wrong."""

from pathlib import Path

import pytest

from northbridge_shared.settings import KafkaSettings, LogSettings, RedisSettings, load


def test_log_level_is_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "debug")
    assert load(LogSettings).level == "DEBUG"


def test_unknown_log_level_stops_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "loud")
    with pytest.raises(SystemExit) as stopped:
        load(LogSettings)
    assert stopped.value.code == 2
    assert capsys.readouterr().err.startswith("invalid setting LOG_LEVEL: ")


def test_a_rule_over_several_settings_stops_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")  # and no user or password
    with pytest.raises(SystemExit) as stopped:
        load(KafkaSettings)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("invalid settings KAFKA_*: ")
    assert err.count("\n") == 1


def test_secrets_come_from_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "kafka").write_text("k@fka\n")
    (tmp_path / "redis").write_text("r/dis\n")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_PLAIN_USERNAME", "nb")
    monkeypatch.setenv("KAFKA_SASL_PLAIN_PASSWORD_FILE", str(tmp_path / "kafka"))
    monkeypatch.setenv("REDIS_URL", "rediss://127.0.0.1:6380/0?ssl_ca_certs=/ca.pem")
    monkeypatch.setenv("REDIS_PASSWORD_FILE", str(tmp_path / "redis"))
    options = load(KafkaSettings).client_options()
    assert options["sasl_plain_password"] == "k@fka"  # noqa: S105 - the test's own
    assert load(RedisSettings).url == "rediss://:r%2Fdis@127.0.0.1:6380/0?ssl_ca_certs=/ca.pem"
