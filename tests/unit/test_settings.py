"""Settings from the environment: forgiving where shells differ, strict where values are wrong."""

import pytest

from northbridge_shared.settings import LogSettings, load


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
