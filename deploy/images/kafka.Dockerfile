# Apache Kafka (KRaft) from the same Maven Central jars as the local broker (deploy/kafka/pom.xml,
# deploy/kafka_local.py's ensure_kafka_jars): the build context is that jar directory plus
# deploy/images/kafka/ (assembled by deploy/images/build.py; `make images`).
# BASE: the debootstrapped Debian bookworm `make images` makes, or any Debian bookworm image
# (the official one by default: docker build --build-arg BASE=debian:bookworm-slim ...).
ARG BASE=debian:bookworm-slim
FROM ${BASE}

# A JRE 17 from Debian, in its own layer: it changes far less often than the jars.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10010 --home-dir /var/lib/kafka --create-home kafka \
    && mkdir -p /var/lib/kafka/data && chown -R kafka /var/lib/kafka

# The official image's layout (/opt/kafka/bin, /opt/kafka/libs, /opt/kafka/config), so the
# compose file runs either image with the same start script.
COPY libs/ /opt/kafka/libs/
COPY kafka/ /opt/kafka/
RUN chmod 0755 /opt/kafka/bin/*

# The local broker's JVM choices (deploy/kafka_local.py: C1 only, G1 with short pauses).
ENV KAFKA_HEAP_OPTS="-Xmx768m" \
    KAFKA_JVM_PERFORMANCE_OPTS="-XX:TieredStopAtLevel=1 -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true"
USER kafka
WORKDIR /var/lib/kafka
VOLUME /var/lib/kafka/data
EXPOSE 9092
# Ready when the client listener accepts connections (there is no Kafka CLI in this image:
# the jars are the broker's, not the distribution's tools).
HEALTHCHECK --interval=2s --timeout=5s --start-period=5s --retries=60 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9092"]
CMD ["/opt/kafka/bin/talentloop-kafka-start.sh"]
