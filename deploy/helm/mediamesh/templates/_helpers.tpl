{{/*
Names, labels and the contract facts every template shares.
*/}}

{{- define "mediamesh.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mediamesh.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The gRPC parts in a fixed order: four services, then the orchestrator. */}}
{{- define "mediamesh.partNames" -}}
audio vision text compose orchestrator
{{- end }}

{{/* The services the orchestrator calls (every part but itself). */}}
{{- define "mediamesh.serviceNames" -}}
audio vision text compose
{{- end }}

{{/* The contract service each part serves: its grpc.health.v1 readiness name. */}}
{{- define "mediamesh.grpcService" -}}
{{- $names := dict "audio" "mediamesh.v1.AudioService" "vision" "mediamesh.v1.VisionService" "text" "mediamesh.v1.TextService" "compose" "mediamesh.v1.ComposeService" "orchestrator" "mediamesh.v1.WorkflowService" }}
{{- get $names . }}
{{- end }}

{{/* Name of a component's objects: <fullname>-<component>. ctx: dict root component */}}
{{- define "mediamesh.componentName" -}}
{{- printf "%s-%s" (include "mediamesh.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mediamesh.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of a component's objects. ctx: dict root component */}}
{{- define "mediamesh.labels" -}}
helm.sh/chart: {{ include "mediamesh.chart" .root }}
{{ include "mediamesh.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: mediamesh
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of a component. ctx: dict root component */}}
{{- define "mediamesh.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mediamesh.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Every pod of this release (NetworkPolicy peers). */}}
{{- define "mediamesh.releasePodSelector" -}}
matchLabels:
  app.kubernetes.io/name: {{ include "mediamesh.name" . }}
  app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mediamesh.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mediamesh.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The mediamesh image reference. */}}
{{- define "mediamesh.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Where each mediamesh process finds Triton and NATS. */}}
{{- define "mediamesh.tritonUrl" -}}
{{- if .Values.triton.externalUrl }}
{{- .Values.triton.externalUrl }}
{{- else }}
{{- printf "%s:%v" (include "mediamesh.componentName" (dict "root" . "component" "triton")) .Values.triton.ports.grpc }}
{{- end }}
{{- end }}

{{- define "mediamesh.natsUrl" -}}
{{- if .Values.nats.externalUrl }}
{{- .Values.nats.externalUrl }}
{{- else }}
{{- printf "nats://%s:%v" (include "mediamesh.componentName" (dict "root" . "component" "nats")) .Values.nats.ports.client }}
{{- end }}
{{- end }}

{{/*
What a part's clients dial: <Service DNS name>:<port>, or with clientLoadBalancing perCall
the dns:/// target of its headless Service (every ready pod). ctx: dict root part
*/}}
{{- define "mediamesh.partUrl" -}}
{{- $name := include "mediamesh.componentName" (dict "root" .root "component" .part) }}
{{- $port := (get .root.Values.parts .part).port }}
{{- if eq .root.Values.clientLoadBalancing "perCall" }}
{{- printf "dns:///%s-pods.%s.svc.%s:%v" $name .root.Release.Namespace .root.Values.clusterDomain $port }}
{{- else }}
{{- printf "%s:%v" $name $port }}
{{- end }}
{{- end }}

{{/* Settings the chart sets itself (refused in settings maps). */}}
{{- define "mediamesh.reservedSettings" -}}
host port_base nats_port nats_monitor_port triton_grpc_port triton_http_port triton_metrics_port audio_port vision_port text_port compose_port orchestrator_port audio_url vision_url text_url compose_url orchestrator_url nats_url triton_url state_dir media_root model_repository workflows_dir moderation_policies_dir triton_shared_memory embedded_nats embedded_triton config metrics_port_shift otlp_endpoint trace_sample_ratio tls_cert_file tls_key_file tls_ca_file tls_client_auth tls_server_name auth_accepted_tokens_file auth_token_file auth_allowed_identities nats_credentials_file nats_token_file nats_tls_ca_file http_fetch http_fetch_allowed_networks http_fetch_max_bytes http_fetch_timeout_s drain_delay_s
{{- end }}

{{/* Where a part serves /metrics: its gRPC port + metrics.portShift. ctx: dict root part */}}
{{- define "mediamesh.metricsPort" -}}
{{- $port := add (get .root.Values.parts .part).port .root.Values.metrics.portShift }}
{{- if gt (int $port) 65535 }}
{{- fail (printf "parts.%s.port + metrics.portShift = %d is not a TCP port; lower one of them" .part (int $port)) }}
{{- end }}
{{- $port }}
{{- end }}

{{/* The appProtocol of the parts' gRPC Service ports: h2c would be a lie over TLS. */}}
{{- define "mediamesh.grpcAppProtocol" -}}
{{- $p := .Values.service.appProtocol }}
{{- if not (and .Values.tls.enabled (eq $p "kubernetes.io/h2c")) }}
{{- $p }}
{{- end }}
{{- end }}

{{/* Where the parts mount the TLS Secret (tls.crt, tls.key, ca.crt). */}}
{{- define "mediamesh.tlsDir" -}}
/etc/mediamesh/tls
{{- end }}

{{/*
The Secrets a part mounts (read-only), as a YAML list: volume name, Secret, the key to
project (none = the whole Secret), directory, file name and the setting pointing at it.
*/}}
{{- define "mediamesh.partSecrets" -}}
{{- $v := .Values }}
{{- if $v.tls.enabled }}
- {volume: tls, secret: {{ $v.tls.secretName | quote }}, dir: {{ include "mediamesh.tlsDir" . }}}
{{- end }}
{{- if $v.auth.enabled }}
{{- with $v.auth.acceptedTokensSecret }}
{{- if .name }}
- {volume: auth-accepted-tokens, secret: {{ .name | quote }}, key: {{ .key | quote }}, dir: /etc/mediamesh/auth/accepted-tokens, file: tokens, env: MEDIAMESH_AUTH_ACCEPTED_TOKENS_FILE}
{{- end }}
{{- end }}
{{- with $v.auth.tokenSecret }}
{{- if .name }}
- {volume: auth-token, secret: {{ .name | quote }}, key: {{ .key | quote }}, dir: /etc/mediamesh/auth/token, file: token, env: MEDIAMESH_AUTH_TOKEN_FILE}
{{- end }}
{{- end }}
{{- end }}
{{- with $v.nats.auth.tokenSecret }}
{{- if .name }}
- {volume: nats-token, secret: {{ .name | quote }}, key: {{ .key | quote }}, dir: /etc/mediamesh/nats/token, file: token, env: MEDIAMESH_NATS_TOKEN_FILE}
{{- end }}
{{- end }}
{{- with $v.nats.auth.credentialsSecret }}
{{- if .name }}
- {volume: nats-credentials, secret: {{ .name | quote }}, key: {{ .key | quote }}, dir: /etc/mediamesh/nats/credentials, file: nats.creds, env: MEDIAMESH_NATS_CREDENTIALS_FILE}
{{- end }}
{{- end }}
{{- if $v.nats.tls.caSecret.name }}
- {volume: nats-ca, secret: {{ $v.nats.tls.caSecret.name | quote }}, key: {{ $v.nats.tls.caSecret.key | quote }}, dir: /etc/mediamesh/nats/ca, file: ca.crt, env: MEDIAMESH_NATS_TLS_CA_FILE}
{{- else if $v.nats.tls.serverSecret }}
- {volume: nats-ca, secret: {{ $v.nats.tls.serverSecret | quote }}, key: ca.crt, dir: /etc/mediamesh/nats/ca, file: ca.crt, env: MEDIAMESH_NATS_TLS_CA_FILE}
{{- end }}
{{- end }}

{{/*
Values that contradict each other, refused with what to do (the schema checks each value
on its own). Included once, by parts.yaml.
*/}}
{{- define "mediamesh.validate" -}}
{{- $v := .Values }}
{{- if and $v.tls.enabled (not $v.tls.secretName) }}
{{- fail "tls.enabled needs tls.secretName: a kubernetes.io/tls Secret with tls.crt, tls.key and ca.crt (e.g. a cert-manager Certificate; see deploy/README.md, Security)" }}
{{- end }}
{{- if and $v.tls.clientAuth (not $v.tls.enabled) }}
{{- fail "tls.clientAuth (mutual TLS) needs tls.enabled and tls.secretName" }}
{{- end }}
{{- if $v.auth.enabled }}
{{- if and $v.auth.allowedIdentities (not (and $v.tls.enabled $v.tls.clientAuth)) }}
{{- fail "auth.allowedIdentities needs mutual TLS to know who the caller is: set tls.enabled=true and tls.clientAuth=true, or use tokens (auth.acceptedTokensSecret) instead" }}
{{- end }}
{{- if not (or $v.auth.acceptedTokensSecret.name $v.auth.allowedIdentities) }}
{{- fail "auth.enabled needs auth.acceptedTokensSecret.name (bearer tokens) or auth.allowedIdentities (mTLS identities)" }}
{{- end }}
{{- if and $v.auth.acceptedTokensSecret.name (not $v.auth.tokenSecret.name) }}
{{- fail "auth.acceptedTokensSecret needs auth.tokenSecret: the parts call each other and must send one of the accepted tokens" }}
{{- end }}
{{- end }}
{{- $externalNats := or $v.nats.externalUrl (not $v.nats.enabled) }}
{{- if and $v.nats.auth.credentialsSecret.name (not $v.nats.externalUrl) }}
{{- fail "nats.auth.credentialsSecret (a .creds file) is for an external NATS in operator mode (nats.externalUrl); protect the chart's NATS with nats.auth.tokenSecret" }}
{{- end }}
{{- if and $v.nats.tls.serverSecret $externalNats }}
{{- fail "nats.tls.serverSecret configures the chart's own NATS; for nats.externalUrl give its CA in nats.tls.caSecret" }}
{{- end }}
{{- if and $v.nats.tls.caSecret.name (not $externalNats) (not $v.nats.tls.serverSecret) }}
{{- fail "nats.tls.caSecret: the chart's NATS speaks plaintext unless nats.tls.serverSecret is set (or point nats.externalUrl at a TLS NATS)" }}
{{- end }}
{{- end }}

{{/*
The environment of a mediamesh part: global settings, then the part's own, then what the
chart owns (addresses, ports, directories). ctx: dict root part
*/}}
{{- define "mediamesh.partEnv" -}}
{{- $root := .root }}
{{- $part := .part }}
{{- $values := get $root.Values.parts $part }}
{{- $reserved := splitList " " (include "mediamesh.reservedSettings" $root) }}
{{- $settings := mustMergeOverwrite (deepCopy ($root.Values.settings | default dict)) ($values.settings | default dict) }}
{{- range $name := keys $settings | sortAlpha }}
{{- if has $name $reserved }}
{{- fail (printf "settings.%s (parts.%s.settings.%s) is set by the chart itself; see values.yaml" $name $part $name) }}
{{- end }}
- name: {{ printf "MEDIAMESH_%s" (upper $name) }}
  value: {{ get $settings $name | toString | quote }}
{{- end }}
- name: MEDIAMESH_HOST
  value: {{ $root.Values.bindHost | quote }}
- name: {{ printf "MEDIAMESH_%s_PORT" (upper $part) }}
  value: {{ $values.port | quote }}
- name: MEDIAMESH_STATE_DIR
  value: /var/lib/mediamesh/state
- name: MEDIAMESH_MEDIA_ROOT
  value: {{ $root.Values.media.mountPath | quote }}
- name: MEDIAMESH_NATS_URL
  value: {{ include "mediamesh.natsUrl" $root | quote }}
- name: MEDIAMESH_TRITON_URL
  value: {{ include "mediamesh.tritonUrl" $root | quote }}
# Triton runs in its own pod: large tensors go over gRPC, not through /dev/shm
- name: MEDIAMESH_TRITON_SHARED_MEMORY
  value: "off"
- name: MEDIAMESH_EMBEDDED_NATS
  value: "false"
- name: MEDIAMESH_EMBEDDED_TRITON
  value: "false"
{{- if eq $part "orchestrator" }}
- name: MEDIAMESH_WORKFLOWS_DIR
  value: /etc/mediamesh/workflows
{{- range $service := splitList " " (include "mediamesh.serviceNames" $root) }}
- name: {{ printf "MEDIAMESH_%s_URL" (upper $service) }}
  value: {{ include "mediamesh.partUrl" (dict "root" $root "part" $service) | quote }}
{{- end }}
{{- end }}
{{- if eq $part "text" }}
- name: MEDIAMESH_MODERATION_POLICIES_DIR
  value: /etc/mediamesh/policies
{{- end }}
# observability: /metrics on the gRPC port + shift, spans over OTLP/HTTP
- name: MEDIAMESH_METRICS_PORT_SHIFT
  value: {{ $root.Values.metrics.portShift | int | toString | quote }}
{{- with $root.Values.observability.otlpEndpoint }}
- name: MEDIAMESH_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: MEDIAMESH_TRACE_SAMPLE_RATIO
  value: {{ $root.Values.observability.traceSampleRatio | toString | quote }}
- name: MEDIAMESH_DRAIN_DELAY_S
  value: {{ $root.Values.drainDelaySeconds | toString | quote }}
{{- with $root.Values.tls }}
{{- if .enabled }}
{{- $dir := include "mediamesh.tlsDir" $root }}
- name: MEDIAMESH_TLS_CERT_FILE
  value: {{ printf "%s/tls.crt" $dir | quote }}
- name: MEDIAMESH_TLS_KEY_FILE
  value: {{ printf "%s/tls.key" $dir | quote }}
- name: MEDIAMESH_TLS_CA_FILE
  value: {{ printf "%s/ca.crt" $dir | quote }}
- name: MEDIAMESH_TLS_CLIENT_AUTH
  value: {{ .clientAuth | toString | quote }}
{{- with .serverName }}
- name: MEDIAMESH_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- range $secret := include "mediamesh.partSecrets" $root | fromYamlArray }}
{{- with $secret.env }}
- name: {{ . }}
  value: {{ printf "%s/%s" $secret.dir $secret.file | quote }}
{{- end }}
{{- end }}
{{- if and $root.Values.auth.enabled $root.Values.auth.allowedIdentities }}
{{- /* the parts call each other with the shared certificate: admit its names too */}}
{{- $identities := list }}
{{- range $root.Values.auth.allowedIdentities }}
{{- $identities = append $identities . }}
{{- end }}
{{- range $p := splitList " " (include "mediamesh.partNames" $root) }}
{{- $identities = append $identities (include "mediamesh.componentName" (dict "root" $root "component" $p)) }}
{{- end }}
{{- with $root.Values.tls.serverName }}
{{- $identities = append $identities . }}
{{- end }}
- name: MEDIAMESH_AUTH_ALLOWED_IDENTITIES
  value: {{ $identities | uniq | toJson | quote }}
{{- end }}
{{- with $root.Values.remoteInputs }}
- name: MEDIAMESH_HTTP_FETCH
  value: {{ .httpFetch | toString | quote }}
{{- if .httpFetch }}
- name: MEDIAMESH_HTTP_FETCH_ALLOWED_NETWORKS
  value: {{ .allowedNetworks | default list | toJson | quote }}
- name: MEDIAMESH_HTTP_FETCH_MAX_BYTES
  value: {{ .maxBytes | int64 | toString | quote }}
- name: MEDIAMESH_HTTP_FETCH_TIMEOUT_S
  value: {{ .timeoutSeconds | toString | quote }}
{{- end }}
{{- end }}
{{- with $values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The volumes of partSecrets: read-only files of the pod's group (fsGroup). */}}
{{- define "mediamesh.partSecretVolumes" -}}
{{- range $secret := include "mediamesh.partSecrets" . | fromYamlArray }}
- name: {{ $secret.volume }}
  secret:
    secretName: {{ $secret.secret }}
    defaultMode: 288  # 0440
    {{- with $secret.key }}
    items:
      - {key: {{ . | quote }}, path: {{ $secret.file }}}
    {{- end }}
{{- end }}
{{- end }}

{{- define "mediamesh.partSecretMounts" -}}
{{- range $secret := include "mediamesh.partSecrets" . | fromYamlArray }}
- {name: {{ $secret.volume }}, mountPath: {{ $secret.dir }}, readOnly: true}
{{- end }}
{{- end }}

{{/*
A part's probe. Plaintext: Kubernetes' grpc: probe. tls.enabled: an exec probe that speaks
TLS (python -m mediamesh.mesh.probe) on the part's own port, verifying tls.serverName or the
part's Service name. ctx: dict root part service timing
*/}}
{{- define "mediamesh.partProbe" -}}
{{- $port := (get .root.Values.parts .part).port }}
{{- if .root.Values.tls.enabled }}
{{- $timeout := int (default 1 .timing.timeoutSeconds) }}
{{- $command := list "python" "-m" "mediamesh.mesh.probe" "--part" .part "--timeout" (toString (max 1 (sub $timeout 1))) }}
{{- if .service }}
{{- $command = concat $command (list "--service" .service) }}
{{- end }}
{{- if not .root.Values.tls.serverName }}
{{- $command = concat $command (list "--server-name" (include "mediamesh.componentName" (dict "root" .root "component" .part))) }}
{{- end }}
exec:
  command: {{ toJson $command }}
{{- else }}
grpc:
  port: {{ $port }}
  service: {{ .service | quote }}
{{- end }}
{{ toYaml .timing }}
{{- end }}

{{/* One grpc: probe. ctx: dict port service timing */}}
{{- define "mediamesh.grpcProbe" -}}
grpc:
  port: {{ .port }}
  service: {{ .service | quote }}
{{ toYaml .timing }}
{{- end }}
