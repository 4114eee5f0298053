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
host port_base nats_port nats_monitor_port triton_grpc_port triton_http_port triton_metrics_port audio_port vision_port text_port compose_port orchestrator_port audio_url vision_url text_url compose_url orchestrator_url nats_url triton_url state_dir media_root model_repository workflows_dir moderation_policies_dir triton_shared_memory embedded_nats embedded_triton config
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
{{- with $values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* One grpc: probe. ctx: dict port service timing */}}
{{- define "mediamesh.grpcProbe" -}}
grpc:
  port: {{ .port }}
  service: {{ .service | quote }}
{{ toYaml .timing }}
{{- end }}
