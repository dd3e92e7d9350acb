"""The environment variable of every setting the services read, found in the settings models."""

from pydantic_settings import BaseSettings

from northbridge_shared import settings

MODELS = [
    m
    for m in vars(settings).values()
    if isinstance(m, type) and issubclass(m, BaseSettings) and m is not BaseSettings
]


def env_names() -> list[str]:
    """``KAFKA_BOOTSTRAP_SERVERS``, ``GATEWAY_PORT``, ...: one per field of every model."""
    return [
        f"{model.model_config.get('env_prefix', '')}{name}".upper()
        for model in MODELS
        for name in model.model_fields
    ]
