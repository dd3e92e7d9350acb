#!/usr/bin/env bash
# kafka-server-start.sh server.properties [--override key=value]...: upstream's script, reduced:
# the broker in the foreground, with upstream's defaults of a 1 GB heap (KAFKA_HEAP_OPTS) and
# the broker's logging from config/ (KAFKA_LOG4J_OPTS). No -daemon, no GC log file.
set -euo pipefail
if [[ $# -lt 1 ]]; then
  echo "USAGE: $0 server.properties [--override property=value]*" >&2
  exit 1
fi
base_dir=$(cd -- "$(dirname -- "$0")/.." && pwd)
export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}
export KAFKA_LOG4J_OPTS=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$base_dir/config/log4j2.properties}
exec "$base_dir/bin/kafka-run-class.sh" kafka.Kafka "$@"
