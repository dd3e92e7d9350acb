"""``python -m northbridge_gateway``: run the HTTP gateway."""

from northbridge_gateway.app import GatewayConfig
from northbridge_gateway.server import Gateway
from northbridge_shared import logging
from northbridge_shared.settings import (
    GatewaySettings,
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
    config = GatewayConfig(
        load(GatewaySettings),
        load(KafkaSettings),
        load(RedisSettings),
        load(JobSettings),
        load(ReceiptSettings),
    )
    Gateway(config).run()


if __name__ == "__main__":
    main()
