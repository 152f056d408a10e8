{{/* Labels Helm adds to every object (tests strip exactly these to compare with deploy/). */}}
{{- define "jupyternetes.helmLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* The operator's own objects: Helm's labels, part-of, name and component. */}}
{{- define "jupyternetes.operatorLabels" -}}
{{ include "jupyternetes.helmLabels" . }}
app.kubernetes.io/part-of: jupyternetes
{{ include "jupyternetes.selectorLabels" . }}
{{- end }}

{{- define "jupyternetes.selectorLabels" -}}
app.kubernetes.io/name: jupyternetes-operator
app.kubernetes.io/component: operator
{{- end }}

{{/* Objects that are part of the install but not the operator's workload (RBAC, monitoring). */}}
{{- define "jupyternetes.partOfLabels" -}}
{{ include "jupyternetes.helmLabels" . }}
app.kubernetes.io/part-of: jupyternetes
{{- end }}

{{- define "jupyternetes.hubLabels" -}}
{{ include "jupyternetes.helmLabels" . }}
app.kubernetes.io/name: jupyternetes
app.kubernetes.io/component: hub
{{- end }}

{{/* The namespaces that get the operator's Role: the watched ones and the template namespace. */}}
{{- define "jupyternetes.roleNamespaces" -}}
{{- $names := list -}}
{{- if not .Values.watch.allNamespaces -}}
{{- $names = .Values.watch.namespaces -}}
{{- if and .Values.templateNamespace (not (has .Values.templateNamespace $names)) -}}
{{- $names = append $names .Values.templateNamespace -}}
{{- end -}}
{{- end -}}
{{- toJson $names -}}
{{- end }}

{{- define "jupyternetes.hubNamespaces" -}}
{{- $names := .Values.hub.rbac.namespaces -}}
{{- if and (not $names) (not .Values.watch.allNamespaces) -}}
{{- $names = .Values.watch.namespaces -}}
{{- end -}}
{{- toJson $names -}}
{{- end }}

{{/* The operator's settings (every `jupyternetes-operator run` flag has a JUPYTERNETES_* variable). */}}
{{- define "jupyternetes.settings" -}}
{{- $s := dict
  "JUPYTERNETES_NAMESPACES" (ternary "" (join "," .Values.watch.namespaces) .Values.watch.allNamespaces)
  "JUPYTERNETES_LOG_LEVEL" .Values.logLevel
  "JUPYTERNETES_LOG_FORMAT" .Values.logFormat
  "JUPYTERNETES_POD_SECURITY_LEVEL" .Values.podSecurityLevel
  "JUPYTERNETES_LEADER_ELECT" "true"
  "JUPYTERNETES_LEASE_NAME" "jupyternetes-operator"
  "JUPYTERNETES_BIND_ADDRESS" "0.0.0.0:8080"
  "JUPYTERNETES_SHUTDOWN_TIMEOUT" (toString .Values.shutdownTimeout) -}}
{{- if .Values.templateNamespace -}}
{{- $_ := set $s "JUPYTERNETES_TEMPLATE_NAMESPACE" .Values.templateNamespace -}}
{{- end -}}
{{- if .Values.prePull.enabled -}}
{{- $_ := set $s "JUPYTERNETES_PREPULL" "true" -}}
{{- end -}}
{{- if and .Values.watch.allNamespaces (kindIs "slice" .Values.watch.excludedNamespaces) -}}
{{- $_ := set $s "JUPYTERNETES_EXCLUDED_NAMESPACES" (join "," .Values.watch.excludedNamespaces) -}}
{{- end -}}
{{- toYaml (merge (deepCopy .Values.env) $s) -}}
{{- end }}
