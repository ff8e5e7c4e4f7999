{{/* Chart name, overridable. */}}
{{- define "pve-ontap-controller.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name, truncated to the 63 characters DNS names allow. */}}
{{- define "pve-ontap-controller.fullname" -}}
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

{{- define "pve-ontap-controller.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "pve-ontap-controller.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pve-ontap-controller.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "pve-ontap-controller.labels" -}}
helm.sh/chart: {{ include "pve-ontap-controller.chart" . }}
{{ include "pve-ontap-controller.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The ServiceAccount the controller runs as. */}}
{{- define "pve-ontap-controller.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pve-ontap-controller.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The controller image: digest wins over tag; the tag defaults to the chart's appVersion. */}}
{{- define "pve-ontap-controller.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Name of the leader election Lease: per release, so two releases in one namespace do not share it. */}}
{{- define "pve-ontap-controller.leaseName" -}}
{{- include "pve-ontap-controller.fullname" . }}
{{- end }}

{{/* Name of a Secret the chart creates for a backend: <fullname>-<pxc|otc>-<backend>-<what>. */}}
{{- define "pve-ontap-controller.backendSecretName" -}}
{{- $root := index . 0 }}{{- $kind := index . 1 }}{{- $backend := index . 2 }}{{- $what := index . 3 }}
{{- printf "%s-%s-%s-%s" (include "pve-ontap-controller.fullname" $root) $kind $backend.name $what | trunc 253 | trimSuffix "-" }}
{{- end }}

{{/*
Fails rendering when values are consistent with the schema but not with each other.
*/}}
{{- define "pve-ontap-controller.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled=true: without it every replica would reconcile the same objects" }}
{{- end }}
{{- $le := .Values.leaderElection }}
{{- if and $le.enabled (or (le (int $le.leaseDurationSeconds) (int $le.renewDeadlineSeconds)) (le (int $le.renewDeadlineSeconds) (int $le.retryPeriodSeconds))) }}
{{- fail "leaderElection needs leaseDurationSeconds > renewDeadlineSeconds > retryPeriodSeconds" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled" }}
{{- end }}
{{- $backends := concat .Values.backends.proxmoxClusters .Values.backends.ontapClusters }}
{{- range $backends }}
{{- if and .caBundle .caBundleSecretRef }}
{{- fail (printf "backend %s: set caBundle or caBundleSecretRef, not both" .name) }}
{{- end }}
{{- $c := .credentials }}
{{- if and $c.existingSecret (or $c.token $c.username $c.password) }}
{{- fail (printf "backend %s: credentials.existingSecret excludes inline credentials" .name) }}
{{- end }}
{{- if not (or $c.existingSecret $c.token (and $c.username $c.password)) }}
{{- fail (printf "backend %s: credentials need existingSecret, token, or username and password" .name) }}
{{- end }}
{{- end }}
{{- if and $backends .Values.rbac.create .Values.rbac.secretNamespaces (not (has .Release.Namespace .Values.rbac.secretNamespaces)) }}
{{- fail (printf "backends keep their Secrets in %s, but rbac.secretNamespaces does not list it: the controller could not read them" .Release.Namespace) }}
{{- end }}
{{- end }}

{{/* The spec fields ProxmoxCluster and OntapCluster share: Secret references, TLS and namespace limits. */}}
{{- define "pve-ontap-controller.backendRefs" -}}
{{- $root := index . 0 }}{{- $kind := index . 1 }}{{- $backend := index . 2 -}}
credentialsSecretRef:
  name: {{ $backend.credentials.existingSecret | default (include "pve-ontap-controller.backendSecretName" (list $root $kind $backend "credentials")) }}
  namespace: {{ $root.Release.Namespace }}
{{- if $backend.caBundle }}
caBundleSecretRef:
  name: {{ include "pve-ontap-controller.backendSecretName" (list $root $kind $backend "ca") }}
  namespace: {{ $root.Release.Namespace }}
  key: ca.crt
{{- else if $backend.caBundleSecretRef }}
caBundleSecretRef:
  {{- toYaml $backend.caBundleSecretRef | nindent 2 }}
{{- end }}
{{- if $backend.insecureSkipTLSVerify }}
insecureSkipTLSVerify: true
{{- end }}
{{- with $backend.allowedNamespaces }}
allowedNamespaces:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $backend.scopes }}
scopes:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if and (eq $kind "otc") $backend.allowDeleteAdopted }}
allowDeleteAdopted: true
{{- end }}
{{- end }}

{{/* Namespaces whose Secrets the controller may get and backends may reference, as a JSON list:
rbac.secretNamespaces, or the release namespace when that is empty. */}}
{{- define "pve-ontap-controller.secretNamespaces" -}}
{{- if .Values.rbac.secretNamespaces }}
{{- toJson .Values.rbac.secretNamespaces }}
{{- else }}
{{- toJson (list .Release.Namespace) }}
{{- end }}
{{- end }}
