{{/* Names and labels, as the original chart builds them. */}}
{{- define "manycore-mail.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "manycore-mail.fullname" -}}
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

{{- define "manycore-mail.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "manycore-mail.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "manycore-mail.selectorLabels" -}}
app.kubernetes.io/name: {{ include "manycore-mail.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ConfigMap holding the two YAML files: the operator's (config.existingConfigMap, as the original) or ours. */}}
{{- define "manycore-mail.configMapName" -}}
{{- default (printf "%s-config" (include "manycore-mail.fullname" .)) .Values.config.existingConfigMap }}
{{- end }}

{{- define "manycore-mail.secretName" -}}
{{- default (printf "%s-secrets" (include "manycore-mail.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}
