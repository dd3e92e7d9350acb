"""The dashboard's own settings, ``DASHBOARD_*`` (shared ones: northbridge_shared.settings)."""

from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DashboardSettings(BaseSettings):
    """The operator's dashboard (``northbridge dashboard``)."""

    model_config = SettingsConfigDict(env_prefix="DASHBOARD_", extra="ignore")

    host: str = "0.0.0.0"  # noqa: S104 - a service in a container must listen beyond loopback
    port: Annotated[int, Field(ge=1, le=65535)] = 9180
    # Off: the dashboard only shows. On: it can retry and delete failed jobs, replay dead letters.
    actions: bool = False
