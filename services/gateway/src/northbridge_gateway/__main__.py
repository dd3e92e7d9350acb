"""``python -m northbridge_gateway``: run the HTTP gateway."""

from northbridge_gateway.metrics_folder import name_metrics_folder
from northbridge_gateway.settings import GatewaySettings
from northbridge_shared import logging
from northbridge_shared.settings import (
    JobSettings,
    KafkaSettings,
    LogSettings,
    ReceiptSettings,
    RedisSettings,
    load,
)


def main() -> None:
    """Read settings, configure logging, run gunicorn until SIGTERM."""
    logging.configure(load(LogSettings), service="gateway")
    settings = (
        load(GatewaySettings),
        load(KafkaSettings),
        load(RedisSettings),
        load(JobSettings),
        load(ReceiptSettings),
    )
    name_metrics_folder()
    # prometheus_client chooses its multiprocess mode when it is first imported, so the app
    # (which imports it) is imported only once the folder is named.
    from northbridge_gateway.app import GatewayConfig  # noqa: PLC0415
    from northbridge_gateway.server import Gateway  # noqa: PLC0415

    Gateway(GatewayConfig(*settings)).run()


if __name__ == "__main__":
    main()
