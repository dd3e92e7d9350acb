"""``python -m northbridge_bridge``: run the Kafka → RQ bridge."""

import asyncio

from northbridge_bridge.service import BridgeConfig, serve
from northbridge_bridge.settings import BridgeSettings
from northbridge_shared import logging
from northbridge_shared.settings import (
    JobSettings,
    KafkaSettings,
    LogSettings,
    MetricsSettings,
    ReceiptSettings,
    RedisSettings,
    load,
)


def main() -> None:
    """Read settings, configure logging, consume until SIGTERM."""
    logging.configure(load(LogSettings), service="bridge")
    config = BridgeConfig(
        load(BridgeSettings),
        load(KafkaSettings),
        load(RedisSettings),
        load(JobSettings),
        load(ReceiptSettings),
        load(MetricsSettings),
    )
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
