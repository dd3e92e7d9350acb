"""Kafka's command-line tools as the plain scripts people know (``kafka-console-producer.sh``).

The Maven jars come without Kafka's ``bin/`` folder; these wrappers give the same commands,
so the README can say ``.stack/bin/kafka-console-producer.sh --bootstrap-server ...``.
"""

import shlex
from pathlib import Path
from typing import Final

from northbridge_stack.jars import kafka_version
from northbridge_stack.kafka import (
    CONSOLE_CONSUMER,
    CONSOLE_PRODUCER,
    CONSUMER_GROUPS,
    TOPIC_COMMAND,
    KafkaBroker,
)

TOOLS: Final = {
    "kafka-console-producer.sh": CONSOLE_PRODUCER,
    "kafka-console-consumer.sh": CONSOLE_CONSUMER,
    "kafka-topics.sh": TOPIC_COMMAND,
    "kafka-consumer-groups.sh": CONSUMER_GROUPS,
}


def write_tool_scripts(broker: KafkaBroker, folder: Path) -> list[Path]:
    """Write one executable ``sh`` script per tool into ``folder``; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    return [_write(folder / name, broker, main_class) for name, main_class in TOOLS.items()]


def _write(path: Path, broker: KafkaBroker, main_class: str) -> Path:
    command = shlex.join(broker.tool_argv(main_class))
    script = (
        "#!/bin/sh\n"
        f"# Written by `northbridge-stack up`: Apache Kafka {kafka_version()} {main_class}\n"
        "# from the jars Maven keeps in ~/.m2. Example:\n"
        f"#   {path.name} --bootstrap-server {broker.bootstrap_servers} --help\n"
        f'exec {command} "$@"\n'
    )
    partial = path.with_suffix(".partial")
    partial.write_text(script)
    partial.chmod(0o755)
    return partial.replace(path)
