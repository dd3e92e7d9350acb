"""``python -m northbridge_gateway``: run the HTTP gateway."""

from northbridge_gateway.server import Gateway
from northbridge_shared import logging
from northbridge_shared.settings import GatewaySettings, KafkaSettings, LogSettings, load


def main() -> None:
    """Read settings, configure logging, run gunicorn until SIGTERM."""
    logging.configure(load(LogSettings), service="gateway")
    Gateway(load(GatewaySettings), load(KafkaSettings)).run()


if __name__ == "__main__":
    main()
