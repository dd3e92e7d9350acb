"""The environment variable of every setting the services read, found in the settings models."""

from types import ModuleType

from pydantic_settings import BaseSettings

import northbridge_bridge.settings
import northbridge_email_worker.settings
import northbridge_gateway.settings
import northbridge_ops.settings
import northbridge_shared.settings

# The shared models, then each service's own.
MODULES: list[ModuleType] = [
    northbridge_shared.settings,
    northbridge_gateway.settings,
    northbridge_bridge.settings,
    northbridge_email_worker.settings,
    northbridge_ops.settings,
]

# The settings models each service loads at start, by their variables' prefixes (compose's and
# Kubernetes' services by name).
READS = {
    "gateway": ("LOG_", "KAFKA_", "REDIS_", "GATEWAY_", "JOB_", "RECEIPT_"),
    "bridge": ("LOG_", "KAFKA_", "REDIS_", "BRIDGE_", "JOB_", "RECEIPT_", "METRICS_"),
    "email-worker": ("LOG_", "REDIS_", "WORKER_", "SMTP_", "MAIL_", "RECEIPT_", "METRICS_"),
    "dashboard": ("LOG_", "KAFKA_", "REDIS_", "DASHBOARD_", "RECEIPT_"),
}

MODELS = list(
    dict.fromkeys(
        m
        for module in MODULES
        for m in vars(module).values()
        if isinstance(m, type) and issubclass(m, BaseSettings) and m is not BaseSettings
    )
)


def env_names() -> list[str]:
    """``KAFKA_BOOTSTRAP_SERVERS``, ``GATEWAY_PORT``, ...: one per field of every model."""
    names = (
        f"{model.model_config.get('env_prefix', '')}{name}".upper()
        for model in MODELS
        for name in model.model_fields
    )
    return list(dict.fromkeys(names))  # BRIDGE_ROUTES is in two models: once here


def models_read_by(service: str) -> list[type[BaseSettings]]:
    """The settings models ``service`` loads: those whose variables carry its prefixes."""
    return [m for m in MODELS if m.model_config.get("env_prefix", "") in READS[service]]
