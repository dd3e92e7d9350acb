#!/usr/bin/env bash
# Runs one of Kafka's command-line tools: kafka-run-class.sh MAIN_CLASS [ARGS...].
# Stand-in for upstream's script of the same name, reduced to what the tools need: the jars in
# /opt/kafka/libs and logging at WARN to stderr (stdout is the tools' data).
# Unlike upstream, the heap is always 256 MB: in the broker's container KAFKA_HEAP_OPTS sizes the
# broker, and a healthcheck every few seconds should not start a JVM that large.
set -euo pipefail
exec java -Xmx256m -Djava.awt.headless=true \
  -Dlog4j2.configurationFile=/etc/kafka/docker/tools-log4j2.properties \
  -cp '/opt/kafka/libs/*' "$@"
