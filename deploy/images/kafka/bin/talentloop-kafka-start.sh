#!/bin/bash
# One KRaft node (broker + controller) with the local broker's security (deploy/kafka_local.py):
# SASL/SCRAM-SHA-512 on the client listeners, the standard authorizer, nobody but the
# super-user talentloop-admin without an ACL; the controller listener takes SASL/PLAIN with
# the broker's own user (KRaft controllers cannot use SCRAM). Runs in this repository's Kafka
# image and in the official apache/kafka image (deploy/docker-compose.yml mounts it).
#
# Environment:
#   ADMIN_PASSWORD, CONTROLLER_PASSWORD   required (hex: they go into JAAS lines unquoted)
#   CLUSTER_ID                            the KRaft cluster id (a fixed default: one cluster a volume)
#   KAFKA_INTERNAL_HOST                   how other containers reach this one (default: kafka)
#   KAFKA_EXTERNAL_ADVERTISED             host:port clients outside reach (default: localhost:9092)
#   KAFKA_DATA_DIR                        log.dirs (default: /var/lib/kafka/data)
#   KAFKA_EXTRA_PROPERTIES                more server.properties lines, appended (they win)
set -euo pipefail
: "${ADMIN_PASSWORD:?set ADMIN_PASSWORD}" "${CONTROLLER_PASSWORD:?set CONTROLLER_PASSWORD}"
CLUSTER_ID="${CLUSTER_ID:-7BKJsHJVTYKHy86YjonONw}"
INTERNAL_HOST="${KAFKA_INTERNAL_HOST:-kafka}"
EXTERNAL="${KAFKA_EXTERNAL_ADVERTISED:-localhost:9092}"
DATA_DIR="${KAFKA_DATA_DIR:-/var/lib/kafka/data}"
CONFIG="$(mktemp -d)/server.properties"
umask 077
cat > "$CONFIG" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:9093
listeners=INTERNAL://:29092,CONTROLLER://127.0.0.1:9093,EXTERNAL://:9092
advertised.listeners=INTERNAL://${INTERNAL_HOST}:29092,EXTERNAL://${EXTERNAL}
listener.security.protocol.map=INTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT,EXTERNAL:SASL_PLAINTEXT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.internal.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.external.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.internal.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="talentloop-admin" password="${ADMIN_PASSWORD}";
listener.name.external.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="talentloop-controller" password="${CONTROLLER_PASSWORD}" user_talentloop-controller="${CONTROLLER_PASSWORD}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:talentloop-admin;User:talentloop-controller
allow.everyone.if.no.acl.found=false
log.dirs=${DATA_DIR}
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
${KAFKA_EXTRA_PROPERTIES:-}
PROPS
# The super-user's SCRAM credential is written at format (KIP-900); a formatted volume is kept.
/opt/kafka/bin/kafka-storage.sh format --ignore-formatted --standalone -t "$CLUSTER_ID" -c "$CONFIG" \
  --add-scram "SCRAM-SHA-512=[name=talentloop-admin,password=${ADMIN_PASSWORD}]" >/dev/null  # it prints the credential
exec /opt/kafka/bin/kafka-server-start.sh "$CONFIG"
