#!/bin/bash
# kafka-storage.sh format|info|random-uuid ... (as in the Kafka distribution)
KAFKA_HEAP_OPTS="-Xmx256m" exec "$(dirname "$0")/kafka-run-class.sh" kafka.tools.StorageTool "$@"
