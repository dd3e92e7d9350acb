"""Fixtures of the unit tests."""

from pathlib import Path

import pytest

from tests.manifests import SECRETS_DIR, Effective, S, build, settings
from tests.setting_names import env_names


@pytest.fixture
def effective(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Effective:
    """Load a settings model as a pod of a deploy/k8s overlay would: its ConfigMap alone.

    The secret files it names are stand-ins (the Secret is the operator's, never in the
    repository).
    """

    def load(model: type[S], overlay: Path) -> S:
        for name in env_names():
            monkeypatch.delenv(name, raising=False)
        for name, value in settings(build(overlay)).items():
            monkeypatch.setenv(name, value)
            if value.startswith(SECRETS_DIR + "/"):
                stand_in = tmp_path / Path(value).name
                stand_in.write_text("not-a-secret\n")
                monkeypatch.setenv(name, str(stand_in))
        return model()

    return load
