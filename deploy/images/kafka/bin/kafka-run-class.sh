#!/bin/bash
# The distribution's launcher, reduced to what this image needs: java with the broker's jars.
exec java ${KAFKA_HEAP_OPTS} ${KAFKA_JVM_PERFORMANCE_OPTS} ${KAFKA_OPTS} \
    "-Dlog4j2.configurationFile=${KAFKA_LOG4J_CONFIG:-/opt/kafka/config/log4j2.properties}" \
    -cp "/opt/kafka/libs/*" "$@"
