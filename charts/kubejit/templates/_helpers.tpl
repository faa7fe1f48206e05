{{/* Names, labels and the shared pieces of the broker's and the gateway's pods. */}}

{{- define "kubejit.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kubejit.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "kubejit.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "kubejit.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The name of one component's objects: (dict "root" $ "component" "broker"). */}}
{{- define "kubejit.componentName" -}}
{{- printf "%s-%s" (include "kubejit.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kubejit.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubejit.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels of every object; component may be "". */}}
{{- define "kubejit.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "kubejit.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- with .root.Values.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "kubejit.image" -}}
{{- $image := .Values.image -}}
{{- if $image.digest -}}
{{ $image.repository }}@{{ $image.digest }}
{{- else -}}
{{ $image.repository }}:{{ default .Chart.AppVersion $image.tag }}
{{- end -}}
{{- end -}}

{{- define "kubejit.serviceAccountName" -}}
{{- $values := index .root.Values .component -}}
{{- if $values.serviceAccount.name -}}
{{- $values.serviceAccount.name -}}
{{- else if $values.serviceAccount.create -}}
{{- include "kubejit.componentName" . -}}
{{- else -}}
default
{{- end -}}
{{- end -}}

{{- define "kubejit.brokerUrl" -}}
https://{{ include "kubejit.componentName" (dict "root" . "component" "broker") }}.{{ .Release.Namespace }}.svc:{{ .Values.broker.service.port }}
{{- end -}}

{{- define "kubejit.gatewayUrl" -}}
{{- if .Values.gateway.publicUrl -}}
{{ .Values.gateway.publicUrl }}
{{- else -}}
https://{{ include "kubejit.componentName" (dict "root" . "component" "gateway") }}.{{ .Release.Namespace }}.svc:{{ .Values.gateway.service.port }}
{{- end -}}
{{- end -}}

{{/* The console a gateway's refusals link: gateway.consoleUrl, else the broker's console when its URL is given. */}}
{{- define "kubejit.gatewayConsoleUrl" -}}
{{- if .Values.gateway.consoleUrl -}}
{{ .Values.gateway.consoleUrl }}
{{- else if and .Values.broker.console.enabled .Values.broker.console.publicUrl -}}
{{ trimSuffix "/" .Values.broker.console.publicUrl }}/console
{{- end -}}
{{- end -}}

{{/* The Secret holding tls.crt, tls.key and ca.crt. */}}
{{- define "kubejit.tlsSecret" -}}
{{- if .Values.tls.existingSecret -}}
{{- .Values.tls.existingSecret -}}
{{- else if .Values.tls.certManager.enabled -}}
{{- printf "%s-tls" (include "kubejit.fullname" .) -}}
{{- else -}}
{{- fail "tls: set tls.existingSecret (a Secret with tls.crt, tls.key and ca.crt) or tls.certManager.enabled=true with tls.certManager.issuerRef.name: the broker and the gateway serve HTTPS only" -}}
{{- end -}}
{{- end -}}

{{- define "kubejit.keysSecret" -}}
{{- if .Values.keys.existingSecret -}}
{{- .Values.keys.existingSecret -}}
{{- else if .Values.keys.create -}}
{{- printf "%s-keys" (include "kubejit.fullname" .) -}}
{{- else -}}
{{- fail "keys: set keys.existingSecret (a Secret with audit-signing.key, request-seal.key and gateway-signing.key) or keys.create=true" -}}
{{- end -}}
{{- end -}}

{{- define "kubejit.databaseSecret" -}}
{{- if .Values.database.existingSecret.name -}}
{{- .Values.database.existingSecret.name -}}
{{- else if .Values.database.url -}}
{{- printf "%s-database" (include "kubejit.fullname" .) -}}
{{- else -}}
{{- fail "database: set database.existingSecret.name (a Secret whose key database.existingSecret.key holds the PostgreSQL URL, e.g. postgresql+psycopg://kubejit@db:5432/kubejit) or database.url" -}}
{{- end -}}
{{- end -}}

{{- define "kubejit.databaseKey" -}}
{{- if .Values.database.existingSecret.name -}}
{{- .Values.database.existingSecret.key -}}
{{- else -}}
database-url
{{- end -}}
{{- end -}}

{{/*
The gateway's client token (what it presents to the broker; the broker's config holds its sha256): the one
already in the cluster, else a new one; computed once per rendering so that both sides agree.
*/}}
{{- define "kubejit.gatewayClientToken" -}}
{{- if not (hasKey .Release "kubejitGatewayToken") -}}
{{- $name := printf "%s-gateway-client" (include "kubejit.fullname" .) -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $name -}}
{{- $token := "" -}}
{{- if and $existing $existing.data (hasKey $existing.data "token") -}}
{{- $token = index $existing.data "token" | b64dec -}}
{{- else -}}
{{- $token = randAlphaNum 48 -}}
{{- end -}}
{{- $_ := set .Release "kubejitGatewayToken" $token -}}
{{- end -}}
{{- get .Release "kubejitGatewayToken" -}}
{{- end -}}

{{/* A policy must be given, as an AccessPolicy object. */}}
{{- define "kubejit.policy" -}}
{{- if not .Values.policy -}}
{{- fail "policy: set policy to your AccessPolicy (apiVersion kubejit.io/v1alpha1, kind AccessPolicy, metadata, spec); see docs/policy-reference.md" -}}
{{- end -}}
{{- toYaml .Values.policy -}}
{{- end -}}

{{/* Every ClusterRole the policy's profiles bind (clusterRole, or kubejit:profile:<name> for inline rules). */}}
{{- define "kubejit.boundClusterRoles" -}}
{{- $names := list -}}
{{- range (.Values.policy.spec).profiles -}}
{{- if .clusterRole -}}
{{- $names = append $names .clusterRole -}}
{{- else if .rules -}}
{{- $names = append $names (printf "kubejit:profile:%s" .name) -}}
{{- end -}}
{{- end -}}
{{- $names | uniq | sortAlpha | toJson -}}
{{- end -}}

{{/* namespace -> the Roles the policy's profiles bind there. */}}
{{- define "kubejit.boundRoles" -}}
{{- $byNamespace := dict -}}
{{- range (.Values.policy.spec).profiles -}}
{{- with .role -}}
{{- $names := get $byNamespace .namespace | default list -}}
{{- $_ := set $byNamespace .namespace (append $names .name | uniq | sortAlpha) -}}
{{- end -}}
{{- end -}}
{{- $byNamespace | toJson -}}
{{- end -}}

{{/* "true" when the broker makes RBAC bindings: always, except in authorization-webhook mode without bindings. */}}
{{- define "kubejit.brokerBinds" -}}
{{- $webhook := .Values.broker.authorizationWebhook -}}
{{- if or (not $webhook.enabled) $webhook.bindings -}}
true
{{- end -}}
{{- end -}}

{{/* The pod settings both components share: (dict "root" $ "component" "broker" "values" .Values.broker). */}}
{{- define "kubejit.podScheduling" -}}
{{- $values := .values -}}
{{- with $values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
affinity:
{{- if $values.affinity }}
  {{- toYaml $values.affinity | nindent 2 }}
{{- else }}
  podAntiAffinity:
  {{- if eq $values.podAntiAffinity "hard" }}
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "kubejit.selectorLabels" . | nindent 12 }}
  {{- else }}
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "kubejit.selectorLabels" . | nindent 14 }}
  {{- end }}
{{- end }}
{{- with $values.imagePullSecrets | default .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/* The container settings both components share. */}}
{{- define "kubejit.containerBasics" -}}
image: {{ include "kubejit.image" .root }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
securityContext:
  {{- toYaml .values.securityContext | nindent 2 }}
resources:
  {{- toYaml .values.resources | nindent 2 }}
{{- end -}}

{{/* Metadata of a workload or its pod template: (dict "root" $ "component" "broker" "kind" "deployment"). */}}
{{- define "kubejit.extraMetadata" -}}
{{- $values := index .root.Values .component -}}
{{- with index $values.labels .kind }}
{{ toYaml . }}
{{- end }}
{{- end -}}
