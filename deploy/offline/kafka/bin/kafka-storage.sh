#!/usr/bin/env bash
# Same name and arguments as upstream's bin/kafka-storage.sh.
exec "$(dirname "$0")/kafka-run-class.sh" kafka.tools.StorageTool "$@"
