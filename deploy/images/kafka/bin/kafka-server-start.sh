#!/bin/bash
# kafka-server-start.sh server.properties (as in the Kafka distribution)
exec "$(dirname "$0")/kafka-run-class.sh" kafka.Kafka "$@"
