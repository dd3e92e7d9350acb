"""The README and .env.example list every setting the services read."""

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from northbridge_shared import settings

ROOT = Path(__file__).resolve().parents[2]
MODELS = [
    m
    for m in vars(settings).values()
    if isinstance(m, type) and issubclass(m, BaseSettings) and m is not BaseSettings
]


def env_names() -> list[str]:
    return [
        f"{model.model_config.get('env_prefix', '')}{name}".upper()
        for model in MODELS
        for name in model.model_fields
    ]


def test_every_settings_model_is_found() -> None:
    """The scan sees all nine models, so the checks below cover them."""
    assert len(MODELS) == 9


@pytest.mark.parametrize("document", ["README.md", ".env.example"])
def test_every_setting_is_documented(document: str) -> None:
    """A setting missing from the docs is a setting nobody can find."""
    text = (ROOT / document).read_text()
    missing = [name for name in env_names() if not re.search(rf"\b{name}\b", text)]
    assert missing == []
