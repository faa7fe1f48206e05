{{/*
What kube-apiserver's owner must give it for authorization-webhook mode (docs/deployment.md section 8): the
AuthorizationConfiguration and the webhook kubeconfig. The same documents as kubejit.devcluster.authorization
writes for the dev control plane; the chart knows neither the token (a placeholder: only its sha256 is in the
chart) nor where kube-apiserver's host keeps files (the paths below are examples).
*/}}

{{- define "kubejit.webhookFiles" -}}
{{- dict "kubeconfig" "/etc/kubernetes/kubejit-webhook.kubeconfig" "ca" "/etc/kubernetes/kubejit-ca.crt" | toJson -}}
{{- end -}}

{{/* The broker's base URL as kube-apiserver reaches it. */}}
{{- define "kubejit.webhookBaseUrl" -}}
{{- with .Values.broker.authorizationWebhook.url -}}
{{ trimSuffix "/" . }}
{{- else -}}
{{ include "kubejit.brokerUrl" . }}
{{- end -}}
{{- end -}}

{{/* A CEL string literal. */}}
{{- define "kubejit.celString" -}}
'{{ . | replace "\\" "\\\\" | replace "'" "\\'" }}'
{{- end -}}

{{/*
All must hold for kube-apiserver to ask kubejit: the users of kubejit's issuers (when every issuer has a
usernamePrefix), never system: users or system:masters (the broker's own ServiceAccount is a system: user).
*/}}
{{- define "kubejit.webhookMatchConditions" -}}
{{- $prefixes := list -}}
{{- range .Values.oidc -}}
{{- $prefixes = append $prefixes (.usernamePrefix | default "") -}}
{{- end -}}
{{- $conditions := list -}}
{{- if and $prefixes (not (has "" $prefixes)) -}}
{{- $tests := list -}}
{{- range $prefixes | uniq -}}
{{- $tests = append $tests (printf "request.user.startsWith(%s)" (include "kubejit.celString" .)) -}}
{{- end -}}
{{- $conditions = append $conditions (dict "expression" (join " || " $tests)) -}}
{{- end -}}
{{- $conditions = append $conditions (dict "expression" "!request.user.startsWith('system:')") -}}
{{- $conditions = append $conditions (dict "expression" "!('system:masters' in request.groups)") -}}
{{- $conditions | toJson -}}
{{- end -}}

{{- define "kubejit.authorizationConfiguration" -}}
{{- $files := include "kubejit.webhookFiles" . | fromJson -}}
{{- $webhook := dict
  "timeout" "2s"
  "subjectAccessReviewVersion" "v1"
  "matchConditionSubjectAccessReviewVersion" "v1"
  "failurePolicy" (.Values.broker.authorizationWebhook.failurePolicy | default "Deny")
  "authorizedTTL" "1s"
  "cacheAuthorizedRequests" false
  "unauthorizedTTL" "1s"
  "cacheUnauthorizedRequests" false
  "connectionInfo" (dict "type" "KubeConfigFile" "kubeConfigFile" $files.kubeconfig)
  "matchConditions" (include "kubejit.webhookMatchConditions" . | fromJsonArray)
-}}
{{- dict
  "apiVersion" "apiserver.config.k8s.io/v1"
  "kind" "AuthorizationConfiguration"
  "authorizers" (list (dict "type" "Webhook" "name" "kubejit.io" "webhook" $webhook) (dict "type" "RBAC" "name" "rbac"))
  | toYaml -}}
{{- end -}}

{{- define "kubejit.webhookKubeconfig" -}}
{{- $files := include "kubejit.webhookFiles" . | fromJson -}}
{{- $server := printf "%s/api/v1/authorization/review" (include "kubejit.webhookBaseUrl" .) -}}
{{- dict
  "apiVersion" "v1"
  "kind" "Config"
  "clusters" (list (dict "name" "kubejit" "cluster" (dict "server" $server "certificate-authority" $files.ca)))
  "users" (list (dict "name" "kube-apiserver" "user" (dict "token" "<the webhook token, whose sha256 is broker.authorizationWebhook.clientTokenSha256>")))
  "contexts" (list (dict "name" "webhook" "context" (dict "cluster" "kubejit" "user" "kube-apiserver")))
  "current-context" "webhook"
  | toYaml -}}
{{- end -}}
