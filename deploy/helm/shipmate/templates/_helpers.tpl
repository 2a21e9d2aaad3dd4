{{/* The release's name for every object, cut to fit DNS label limits. */}}
{{- define "shipmate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "shipmate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select the pods: never change them on upgrade. */}}
{{- define "shipmate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "shipmate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "shipmate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "shipmate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "shipmate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "shipmate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The configuration file's text: values' config, else files/shipmate.yaml
(configs/container.yaml, the image's own). */}}
{{- define "shipmate.config" -}}
{{- if .Values.config -}}
{{- .Values.config -}}
{{- else -}}
{{- .Files.Get "files/shipmate.yaml" -}}
{{- end -}}
{{- end -}}

{{/* The configuration's store key; fails the render on a config that is
not YAML. */}}
{{- define "shipmate.store" -}}
{{- $cfg := include "shipmate.config" . | fromYaml -}}
{{- if hasKey $cfg "Error" -}}
{{- fail (printf "config: not YAML: %s" $cfg.Error) -}}
{{- end -}}
{{- $cfg.store | default "" -}}
{{- end -}}

{{/* The replica count: one on a bbolt file, which takes one writer. */}}
{{- define "shipmate.replicas" -}}
{{- $replicas := int .Values.replicas -}}
{{- $store := include "shipmate.store" . -}}
{{- if and (gt $replicas 1) (not (hasPrefix "etcd://" $store)) -}}
{{- fail (printf "replicas: %d needs the etcd store (store: etcd://... in config): the bbolt file takes one writer, and a second pod would wait on its lock" $replicas) -}}
{{- end -}}
{{- $replicas -}}
{{- end -}}

{{/* The Secret the tokens come from. */}}
{{- define "shipmate.secretName" -}}
{{- default (printf "%s-tokens" (include "shipmate.fullname" .)) .Values.secret.name -}}
{{- end -}}
