"""``python -m northbridge_bridge``: run the Kafka → RQ bridge."""

import asyncio

from northbridge_bridge.service import serve
from northbridge_shared import logging
from northbridge_shared.settings import (
    BridgeSettings,
    JobSettings,
    KafkaSettings,
    LogSettings,
    ReceiptSettings,
    RedisSettings,
    load,
)


def main() -> None:
    """Read settings, configure logging, consume until SIGTERM."""
    logging.configure(load(LogSettings), service="bridge")
    settings = (
        load(BridgeSettings),
        load(KafkaSettings),
        load(RedisSettings),
        load(JobSettings),
        load(ReceiptSettings),
    )
    asyncio.run(serve(*settings))


if __name__ == "__main__":
    main()
