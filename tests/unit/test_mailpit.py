"""One Mailpit everywhere: compose's image is the version the local stack and the tests build."""

from pathlib import Path

import pytest
import yaml

from northbridge_stack import mailpit

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_the_mailpit_version_the_local_stack_builds() -> None:
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    image = services["mailpit"]["image"]  # ${MAILPIT_IMAGE:-axllent/mailpit:vX.Y.Z}
    assert image.removesuffix("}").endswith(f"axllent/mailpit:{mailpit.VERSION}"), image


def test_the_binary_is_cached_per_machine_and_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert mailpit.binary() == tmp_path / "northbridge" / "bin" / f"mailpit-{mailpit.VERSION}"
    assert not mailpit.cached()
