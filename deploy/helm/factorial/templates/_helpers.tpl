{{/* Names and labels. */}}
{{- define "factorial.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "factorial.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "factorial.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "factorial.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: factorial
{{- end }}

{{- define "factorial.selectorLabels" -}}
app.kubernetes.io/name: {{ include "factorial.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one program: (dict "root" $ "component" "api"). */}}
{{- define "factorial.componentLabels" -}}
{{ include "factorial.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "factorial.componentSelector" -}}
{{ include "factorial.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "factorial.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "factorial.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding DATABASE_URL and the other credentials. */}}
{{- define "factorial.secretName" -}}
{{- default (include "factorial.fullname" .) .Values.existingSecret }}
{{- end }}

{{/* The image of one program: (dict "root" $ "component" "api"). */}}
{{- define "factorial.image" -}}
{{- $v := index .root.Values .component }}
{{- $repo := default (printf "%s/factorial-%s" .root.Values.image.registry .component) $v.image.repository }}
{{- if $v.image.digest }}
{{- printf "%s@%s" $repo $v.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default (default .root.Chart.AppVersion .root.Values.image.tag) $v.image.tag) }}
{{- end }}
{{- end }}

{{/* Pod settings every program shares: (dict "root" $ "component" "api"). The migration hook
runs before the release's ServiceAccount exists, so it keeps the namespace's default one. */}}
{{- define "factorial.podCommon" -}}
{{- if ne .component "migrate" }}
serviceAccountName: {{ include "factorial.serviceAccountName" .root }}
{{- end }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.image.pullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Spreading of replicas over nodes and zones: (dict "root" $ "component" "api"). */}}
{{- define "factorial.spread" -}}
{{- if .root.Values.spreadAcrossNodes }}
topologySpreadConstraints:
  {{- range list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
  - maxSkew: 1
    topologyKey: {{ . }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "factorial.componentSelector" $ | nindent 8 }}
  {{- end }}
{{- end }}
{{- end }}

{{/* Environment from the ConfigMap and the Secret (the Secret wins, e.g. for NATS_URL). */}}
{{- define "factorial.envFrom" -}}
envFrom:
  - configMapRef:
      name: {{ include "factorial.fullname" . }}
  - secretRef:
      name: {{ include "factorial.secretName" . }}
{{- end }}

{{/* Variables naming the mounted NATS files (empty when not mounted), and the mounts. */}}
{{- define "factorial.natsFilesEnv" -}}
{{- $f := .Values.nats.files }}
{{- range $var, $key := dict "NATS_CREDS" $f.credsKey "NATS_NKEY_SEED" $f.nkeySeedKey "NATS_CA_FILE" $f.caKey "NATS_CERT_FILE" $f.certKey "NATS_KEY_FILE" $f.keyKey }}
- name: {{ $var }}
  value: {{ if and $f.secretName $key }}/etc/factorial/nats/{{ $key }}{{ else }}""{{ end }}
{{- end }}
{{- end }}

{{- define "factorial.natsFilesMount" -}}
{{- if .Values.nats.files.secretName }}
- name: nats-files
  mountPath: /etc/factorial/nats
  readOnly: true
{{- end }}
{{- end }}

{{- define "factorial.natsFilesVolume" -}}
{{- if .Values.nats.files.secretName }}
- name: nats-files
  secret:
    secretName: {{ .Values.nats.files.secretName }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{/* The probes of a program serving /healthz and /readyz on the port named http; the
argument is the readiness probe's path. */}}
{{- define "factorial.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: {{ . }}, port: http}
  periodSeconds: 5
  timeoutSeconds: 4
  failureThreshold: 2
{{- end }}
