#!/usr/bin/env bash
# kafka-run-class.sh MAIN_CLASS [ARGS...]: upstream's script of the same name, reduced to what
# this image needs: the jars in libs/ and upstream's variables, with upstream's defaults:
# KAFKA_HEAP_OPTS (-Xmx256M), KAFKA_JVM_PERFORMANCE_OPTS (G1), KAFKA_LOG4J_OPTS (the tools'
# logging: WARN to stderr), KAFKA_OPTS.
set -euo pipefail
base_dir=$(cd -- "$(dirname -- "$0")/.." && pwd)
heap_opts=${KAFKA_HEAP_OPTS:--Xmx256M}
performance_opts=${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true}
log4j_opts=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$base_dir/config/tools-log4j2.properties}
# Lists of JVM options: split into words on purpose, as upstream does.
# shellcheck disable=SC2086
exec java $heap_opts $performance_opts $log4j_opts ${KAFKA_OPTS-} -cp "$base_dir/libs/*" "$@"
