"""Contracts that span services: job paths, routes and settings."""

import importlib

import pytest

from northbridge_shared.contracts import DELIVER_JOB, dead_letter_topic, derived_event_id
from northbridge_shared.settings import BridgeSettings, GatewaySettings, load


def test_deliver_job_path_resolves() -> None:
    """The dotted path the bridge enqueues names a callable in the worker package."""
    module, _, name = DELIVER_JOB.rpartition(".")
    assert callable(getattr(importlib.import_module(module), name))


def test_topic_names() -> None:
    """Dead-letter topics and derived ids follow the documented shapes."""
    assert dead_letter_topic("north-updates") == "north-updates.dlq"
    assert derived_event_id("north-updates", 3, 12) == "north-updates-3-12"


def test_routes_are_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new flow is a setting: BRIDGE_ROUTES maps topics to queues and mail kinds."""
    monkeypatch.setenv(
        "BRIDGE_ROUTES", '{"west-updates": {"queue": "WestQueue", "mail": "direct"}}'
    )
    routes = BridgeSettings().routes
    assert list(routes) == ["west-updates"]
    assert routes["west-updates"].queue == "WestQueue"


def test_bad_setting_exits_with_a_readable_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad value stops the service at start with the variable's name, not a traceback."""
    monkeypatch.setenv("GATEWAY_PORT", "ninety")
    with pytest.raises(SystemExit) as exited:
        load(GatewaySettings)
    assert exited.value.code == 2
    assert "invalid setting GATEWAY_PORT:" in capsys.readouterr().err
