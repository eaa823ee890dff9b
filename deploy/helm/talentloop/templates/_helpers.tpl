{{/* A service's Kubernetes name: talentloop-<service>, underscores as dashes. */}}
{{- define "talentloop.name" -}}
{{- printf "%s-%s" .Release.Name (.service | replace "_" "-") | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "talentloop.labels" -}}
app.kubernetes.io/name: talentloop
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "talentloop.selector" -}}
app.kubernetes.io/name: talentloop
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ .service | replace "_" "-" }}
{{- end -}}

{{- define "talentloop.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* A service's Kafka principal (deploy/kafka_credentials.py service_user). */}}
{{- define "talentloop.kafkaUser" -}}
talentloop-{{ .service | replace "_" "-" }}
{{- end -}}

{{/* Kafka connection: the Strimzi cluster's TLS listener, or the external cluster's. */}}
{{- define "talentloop.kafkaBootstrap" -}}
{{- if .Values.kafka.strimzi -}}
{{ .Values.kafka.clusterName }}-kafka-bootstrap:9093
{{- else -}}
{{ required "kafka.external.bootstrapServers is required when kafka.strimzi is false" .Values.kafka.external.bootstrapServers }}
{{- end -}}
{{- end -}}

{{- define "talentloop.kafkaCaSecret" -}}
{{- if .Values.kafka.strimzi -}}
{{ .Values.kafka.clusterName }}-cluster-ca-cert
{{- else -}}
{{ .Values.kafka.external.caSecret }}
{{- end -}}
{{- end -}}

{{/* The Secret holding a service's Kafka password (key `password`): Strimzi names it after the KafkaUser. */}}
{{- define "talentloop.kafkaPasswordSecret" -}}
{{- if .Values.kafka.strimzi -}}
{{ include "talentloop.kafkaUser" . }}
{{- else -}}
{{ .Values.kafka.external.passwordSecretPrefix }}{{ include "talentloop.kafkaUser" . }}
{{- end -}}
{{- end -}}

{{/* The environment every TalentLoop container gets: the ConfigMap, the keys, its Kafka login. */}}
{{- define "talentloop.env" -}}
envFrom:
  - configMapRef:
      name: {{ .Release.Name }}-config
env:
  {{- range $key := list "DATABASE_URL" "TALENTLOOP_MASTER_KEY" "TALENTLOOP_PSEUDONYM_KEY" }}
  - name: {{ $key }}
    valueFrom:
      secretKeyRef:
        name: {{ $.Values.secrets.name }}
        key: {{ $key }}
  {{- end }}
  # Only during a master key rotation (docs/deploy.md, "Rotating it"): opens, never seals.
  - name: TALENTLOOP_MASTER_KEY_PREVIOUS
    valueFrom:
      secretKeyRef:
        name: {{ $.Values.secrets.name }}
        key: TALENTLOOP_MASTER_KEY_PREVIOUS
        optional: true
  # The SMTP server's password, when it needs one (TALENTLOOP_SMTP_HOST and the rest: config).
  - name: TALENTLOOP_SMTP_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ $.Values.secrets.name }}
        key: TALENTLOOP_SMTP_PASSWORD
        optional: true
  {{- if include "talentloop.usesKafka" . }}
  - name: KAFKA_SASL_USERNAME
    value: {{ include "talentloop.kafkaUser" . | quote }}
  - name: KAFKA_SASL_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ include "talentloop.kafkaPasswordSecret" . }}
        key: password
  {{- end }}
{{- end -}}

{{/* A service's OpenID Connect provider (`services.<name>.oidc`: the portal's), as its
TALENTLOOP_PORTAL_OIDC_* settings; refused here, as the portal would refuse it at start, when
half done. Nothing without an issuer. */}}
{{- define "talentloop.oidcEnv" -}}
{{- $oidc := .oidc -}}
{{- if $oidc.issuer -}}
- name: TALENTLOOP_PORTAL_OIDC_ISSUER
  value: {{ $oidc.issuer | quote }}
- name: TALENTLOOP_PORTAL_OIDC_CLIENT_ID
  value: {{ required "services.portal.oidc.clientId is required with an issuer" $oidc.clientId | quote }}
{{- with $oidc.scopes }}
- name: TALENTLOOP_PORTAL_OIDC_SCOPES
  value: {{ . | quote }}
{{- end }}
{{- with $oidc.name }}
- name: TALENTLOOP_PORTAL_OIDC_NAME
  value: {{ . | quote }}
{{- end }}
- name: TALENTLOOP_PORTAL_OIDC_PASSWORDS
  value: {{ ne (toString $oidc.passwords) "false" | quote }}
# The client's secret, when the provider gave one (a public client has none: PKCE alone).
- name: TALENTLOOP_PORTAL_OIDC_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.name }}
      key: TALENTLOOP_PORTAL_OIDC_CLIENT_SECRET
      optional: true
{{- else if eq (toString $oidc.passwords) "false" }}
{{- fail "services.portal.oidc.passwords: false needs services.portal.oidc.issuer (nobody could sign in)" }}
{{- end }}
{{- end -}}

{{/* "true" unless the service's values say `kafka: false` (a web application). */}}
{{- define "talentloop.usesKafka" -}}
{{- $spec := index .Values.services .service | default dict -}}
{{- if or (not (hasKey $spec "kafka")) $spec.kafka }}true{{ end -}}
{{- end -}}

{{- define "talentloop.kafkaCaVolume" -}}
{{- $ca := include "talentloop.kafkaCaSecret" . -}}
{{- if and $ca (include "talentloop.usesKafka" .) }}
- name: kafka-ca
  secret:
    secretName: {{ $ca }}
    items: [{key: ca.crt, path: ca.crt}]
{{- end }}
{{- end -}}

{{- define "talentloop.kafkaCaMount" -}}
{{- if and (include "talentloop.kafkaCaSecret" .) (include "talentloop.usesKafka" .) }}
- name: kafka-ca
  mountPath: /etc/talentloop/kafka-ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "talentloop.podSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  fsGroup: 10001
  seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "talentloop.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities: {drop: [ALL]}
{{- end -}}
