"""The README and .env.example list every setting the services read."""

import re
from pathlib import Path

import pytest

from tests.setting_names import MODELS, env_names

ROOT = Path(__file__).resolve().parents[2]


def test_every_settings_model_is_found() -> None:
    """The scan sees all fourteen models, so the checks below cover them."""
    assert len(MODELS) == 14


@pytest.mark.parametrize("document", ["README.md", ".env.example"])
def test_every_setting_is_documented(document: str) -> None:
    """A setting missing from the docs is a setting nobody can find."""
    text = (ROOT / document).read_text()
    missing = [name for name in env_names() if not re.search(rf"\b{name}\b", text)]
    assert missing == []
