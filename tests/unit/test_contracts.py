"""Contracts that span services: job paths, routes and settings."""

import importlib

import pytest
from rq.job import JOB_ID_PATTERN

from northbridge_bridge.settings import BridgeSettings
from northbridge_gateway.settings import GatewaySettings
from northbridge_shared.contracts import DELIVER_JOB, dead_letter_topic
from northbridge_shared.identity import derived_event_id, is_idempotency_key
from northbridge_shared.settings import load


def test_deliver_job_path_resolves() -> None:
    """The dotted path the bridge enqueues names a callable in the worker package."""
    module, _, name = DELIVER_JOB.rpartition(".")
    assert callable(getattr(importlib.import_module(module), name))


def test_topic_names() -> None:
    """Dead-letter topics and derived ids follow the documented shapes."""
    assert dead_letter_topic("north-updates") == "north-updates.dlq"
    assert derived_event_id("north-updates", 3, 12) == "_north-updates-3-12"
    assert derived_event_id("eu.orders", 0, 5) == "_eu_orders-0-5"


@pytest.mark.parametrize(
    "event_id",
    [derived_event_id("eu.orders", 1, 2), "0190f2a4-7c1e-7000-8000-000000000000", "order_42"],
)
def test_event_ids_are_valid_rq_job_ids(event_id: str) -> None:
    """Every id the pipeline makes or accepts is one rq takes as a job id."""
    assert JOB_ID_PATTERN.fullmatch(event_id)


def test_client_keys_and_position_ids_never_meet() -> None:
    """No Idempotency-Key (nor event-id header) can take the form of a position id."""
    assert not is_idempotency_key(derived_event_id("north-updates", 0, 554))
    assert is_idempotency_key("north-updates-0-554")  # a client's key, in its own namespace


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
