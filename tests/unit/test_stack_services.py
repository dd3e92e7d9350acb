"""The local stack runs any number of bridges and workers, each on ports and files of its own."""

from pathlib import Path

from northbridge_stack import services
from northbridge_stack.layout import StackLayout


def layout(tmp_path: Path) -> StackLayout:
    return StackLayout.from_env({"STACK_HOME": str(tmp_path)})


def test_bridges_are_bridge_then_bridge_n_beside_numbered_workers() -> None:
    """The first bridge keeps its plain name, so what names it (chaos, supervisorctl) holds."""
    names = [service.name for service in services.pipeline(workers=2, bridges=3)]
    assert names == [
        "gateway",
        "bridge",
        "bridge-2",
        "bridge-3",
        "email-worker-1",
        "email-worker-2",
        "dashboard",
    ]
    assert [service.name for service in services.pipeline(workers=1)][:2] == ["gateway", "bridge"]
    assert all(services.by_name(name).name == name for name in names)


def test_each_bridge_and_worker_has_its_own_metrics_port_and_heartbeat(tmp_path: Path) -> None:
    """Twelve bridges (a partition each) and twenty workers share no port and no file."""
    stack = layout(tmp_path)
    envs = [
        services.program(service, stack).env
        for service in services.pipeline(workers=20, bridges=12)
    ]
    ports = [v for env in envs for k, v in env.items() if k.endswith("_METRICS_PORT")]
    beats = [v for env in envs for k, v in env.items() if k.endswith("_HEARTBEAT_FILE")]
    assert len(ports) == len(beats) == 32
    assert len(set(ports)) == len(ports)
    assert len(set(beats)) == len(beats)
    first = services.program(services.bridge(), stack).env
    assert first["BRIDGE_METRICS_PORT"] == str(stack.bridge_metrics_port)
    assert first["BRIDGE_HEARTBEAT_FILE"] == str(tmp_path / "bridge.alive")
