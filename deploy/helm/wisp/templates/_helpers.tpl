{{/*
Names, labels and the RBAC rule lists shared by the templates.
*/}}

{{- define "wisp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wisp.fullname" -}}
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

{{- define "wisp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object; call with (dict "ctx" $ "component" "gateway"). */}}
{{- define "wisp.labels" -}}
helm.sh/chart: {{ include "wisp.chart" .ctx }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: wisp
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
{{ include "wisp.selectorLabels" . }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "wisp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wisp.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{- define "wisp.operator.fullname" -}}
{{- printf "%s-operator" (include "wisp.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wisp.gateway.fullname" -}}
{{- printf "%s-gateway" (include "wisp.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wisp.redis.fullname" -}}
{{- printf "%s-redis" (include "wisp.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wisp.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{- default (include "wisp.operator.fullname" .) .Values.operator.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.operator.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "wisp.gateway.serviceAccountName" -}}
{{- if .Values.gateway.serviceAccount.create -}}
{{- default (include "wisp.gateway.fullname" .) .Values.gateway.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.gateway.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "wisp.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "wisp.peeringName" -}}
{{- default (include "wisp.fullname" .) .Values.operator.peering.name -}}
{{- end -}}

{{- define "wisp.leaseName" -}}
{{- default (include "wisp.gateway.fullname" .) .Values.gateway.leaseName -}}
{{- end -}}

{{- define "wisp.gatewayUrl" -}}
{{- if .Values.operator.gatewayUrl -}}
{{- .Values.operator.gatewayUrl -}}
{{- else -}}
{{- printf "http://%s.%s.svc:%v" (include "wisp.gateway.fullname" .) .Release.Namespace .Values.gateway.service.port -}}
{{- end -}}
{{- end -}}

{{/* Comma-separated watched namespaces; empty means all. */}}
{{- define "wisp.namespacesCsv" -}}
{{- join "," .Values.watchNamespaces -}}
{{- end -}}

{{/* Namespaces that get the function-pod NetworkPolicy, as a JSON list. */}}
{{- define "wisp.functionNamespaces" -}}
{{- $list := .Values.networkPolicy.functionNamespaces -}}
{{- if not $list -}}
{{- if .Values.watchNamespaces -}}
{{- $list = .Values.watchNamespaces -}}
{{- else -}}
{{- $list = list "default" .Release.Namespace .Values.gateway.defaultNamespace (.Values.pool.namespace | default .Values.gateway.defaultNamespace) -}}
{{- end -}}
{{- end -}}
{{- toJson (uniq $list) -}}
{{- end -}}

{{- /*
What every function pod (and pool pod) may reach under the deny-by-default baseline: DNS, and the
gateway's pods on their invocation port only (calling another Function through the gateway, which
checks the call itself). The operator adds the same two rules to a Function's own egress
(WISP_GATEWAY_POD_PORT, wisp.resources.network).
*/ -}}
{{- define "wisp.functionEgress" -}}
- ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Release.Namespace }}
      podSelector:
        matchLabels:
          {{- include "wisp.selectorLabels" (dict "ctx" . "component" "gateway") | nindent 10 }}
  ports:
    - {protocol: TCP, port: {{ .Values.gateway.port }}}
{{- end -}}

{{- /*
Where the bundled Redis keeps its append-only file: "claim" (a PersistentVolumeClaim), "emptyDir"
(redis.persistence.enabled=false), or "noDefaultClass": persistence is on with no
redis.persistence.storageClass, and the cluster has no default StorageClass, so a claim would
stay Pending for ever (and `helm install --wait` time out without a hint); Redis then runs on an
emptyDir and the install notes say why and how to keep the data. A claim that already exists is
kept. Without a cluster to ask (helm template) it is a claim, as before.
*/ -}}
{{- define "wisp.redis.volume" -}}
{{- $p := .Values.redis.persistence -}}
{{- if not $p.enabled -}}
emptyDir
{{- else if $p.storageClass -}}
claim
{{- else -}}
{{- $claim := lookup "v1" "PersistentVolumeClaim" .Release.Namespace (include "wisp.redis.fullname" .) -}}
{{- $classes := lookup "storage.k8s.io/v1" "StorageClass" "" "" -}}
{{- $default := or $claim (not $classes) -}}
{{- range (get (default dict $classes) "items") | default list -}}
{{- $a := .metadata.annotations | default dict -}}
{{- if or (eq (get $a "storageclass.kubernetes.io/is-default-class") "true") (eq (get $a "storageclass.beta.kubernetes.io/is-default-class") "true") -}}
{{- $default = true -}}
{{- end -}}
{{- end -}}
{{- if $default -}}claim{{- else -}}noDefaultClass{{- end -}}
{{- end -}}
{{- end -}}

{{/*
"true" when the chart runs its own Redis: Redis is the broker (queue.broker) and redis.enabled.
*/}}
{{- define "wisp.redis.bundled" -}}
{{- if and .Values.redis.enabled (eq (include "wisp.queue.broker" .) "redis") -}}true{{- end -}}
{{- end -}}

{{- define "wisp.queue.broker" -}}
{{- if not (has .Values.queue.broker (list "redis" "nats")) -}}
{{- fail "queue.broker must be redis or nats" -}}
{{- end -}}
{{- .Values.queue.broker -}}
{{- end -}}

{{- define "wisp.nats.fullname" -}}
{{- printf "%s-nats" (include "wisp.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
"true" when the chart runs its own NATS server: NATS is the broker and nats.enabled.
*/}}
{{- define "wisp.nats.bundled" -}}
{{- if and .Values.nats.enabled (eq (include "wisp.queue.broker" .) "nats") -}}true{{- end -}}
{{- end -}}

{{- define "wisp.nats.url" -}}
{{- if .Values.nats.enabled -}}
{{- printf "nats://%s.%s.svc:4222" (include "wisp.nats.fullname" .) .Release.Namespace -}}
{{- else -}}
{{- required "nats.external.url is required when queue.broker is nats and nats.enabled is false" .Values.nats.external.url -}}
{{- end -}}
{{- end -}}

{{- define "wisp.redis.secretName" -}}
{{- if .Values.redis.enabled -}}
{{- default (include "wisp.redis.fullname" .) .Values.redis.auth.existingSecret -}}
{{- else -}}
{{- .Values.redis.external.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "wisp.redis.secretKey" -}}
{{- if .Values.redis.enabled -}}
{{- .Values.redis.auth.key -}}
{{- else -}}
{{- .Values.redis.external.key -}}
{{- end -}}
{{- end -}}

{{- define "wisp.redis.url" -}}
{{- if .Values.redis.enabled -}}
{{- printf "redis://%s.%s.svc:6379/0" (include "wisp.redis.fullname" .) .Release.Namespace -}}
{{- else -}}
{{- required "redis.external.url is required when redis.enabled is false" .Values.redis.external.url -}}
{{- end -}}
{{- end -}}

{{- define "wisp.adminToken.secretName" -}}
{{- default (printf "%s-admin" (include "wisp.gateway.fullname" .)) .Values.gateway.adminToken.existingSecret -}}
{{- end -}}

{{/*
A random secret value that survives upgrades: the value already stored in the cluster when
the Secret exists (lookup returns nothing under `helm template`), else a new random one.
Call with (dict "ctx" $ "name" "secret-name" "key" "password").
*/}}
{{- define "wisp.persistentRandom" -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .name -}}
{{- if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- index $existing.data .key -}}
{{- else -}}
{{- randAlphaNum 32 | b64enc -}}
{{- end -}}
{{- end -}}

{{/* The pod spec's common part: pull secrets, security context. */}}
{{- define "wisp.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/*
RBAC rules. The operator's and the gateway's namespaced rules are granted by a ClusterRole when
all namespaces are watched and by a Role in each watched namespace otherwise.
*/}}
{{- define "wisp.operator.namespacedRules" -}}
# Functions and Triggers: watched; kopf keeps its progress in their annotations.
- apiGroups: [wisp.dev]
  resources: [functions, triggers]
  verbs: [get, list, watch, patch]
# FunctionVersions: published, rendered, and deleted past their retention.
- apiGroups: [wisp.dev]
  resources: [functionversions]
  verbs: [get, list, watch, patch, create, delete]
- apiGroups: [wisp.dev]
  resources: [functions/status, triggers/status, functionversions/status]
  verbs: [get, patch]
# Children carry an owner reference with blockOwnerDeletion, which needs this where the
# OwnerReferencesPermissionEnforcement admission plugin is on.
- apiGroups: [wisp.dev]
  resources: [functions/finalizers]
  verbs: [update]
# A Function's children, written with server-side apply; garbage collection deletes them with
# the Function, so only a ConfigMap that is no longer needed is deleted by the operator, and a
# Service replaced because its clusterIP (immutable) must change (headless <-> cluster IP).
# No Secrets: function pods read theirs through the kubelet.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch]
# Replicas pinned by spec.replicas or raised to spec.scale.min.
- apiGroups: [apps]
  resources: [deployments/scale]
  verbs: [patch]
# Each Function's identity (spec.role: a ServiceAccount, Role and RoleBinding of its own; the
# namespace's wisp-function account otherwise) and its NetworkPolicy (spec.network).
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get, create, patch, delete]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [get, create, patch, delete]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, create, patch, delete]
# Whether each Secret a Function names exists, read as metadata only (SecretNotFound).
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- with .Values.functions.packages.pullSecret }}
# The installation's package pull secret (functions.packages.pullSecret) is copied into each
# function namespace whose packages need it, and the copy kept up to date: a create cannot be
# limited to one name, an update can.
- apiGroups: [""]
  resources: [secrets]
  verbs: [create]
- apiGroups: [""]
  resources: [secrets]
  resourceNames: [{{ . | quote }}]
  verbs: [patch]
{{- end }}
{{- with .Values.functions.identity.grantableRules }}
# What spec.role may grant: the operator must hold it to write a Role with it.
{{ toYaml . }}
{{- end }}
# Function pods are watched for readiness and failure reasons in the status.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
# Events on Functions and Triggers (wisp's own, and kopf's warnings).
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create]
{{- end -}}

{{- define "wisp.operator.clusterRules" -}}
# kopf scans CRDs to resolve the resources it serves, and lists namespaces to follow them.
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end -}}

{{- define "wisp.gateway.namespacedRules" -}}
# Routing and scaling read Functions, their versions and Triggers (list and watch: the gateway never polls).
- apiGroups: [wisp.dev]
  resources: [functions, functionversions, triggers]
  verbs: [get, list, watch]
# The autoscaler reports desiredReplicas and lastInvocation in a Function's (or version's) status.
- apiGroups: [wisp.dev]
  resources: [functions/status, functionversions/status]
  verbs: [patch]
# Scale from zero and autoscaling, through the Deployments' scale subresource only: the
# gateway can change a Deployment's replicas and nothing else about it.
- apiGroups: [apps]
  resources: [deployments/scale]
  verbs: [get, patch]
# The autoscaler's leader compares each function Deployment's replicas with what it wants on
# every tick, from a watch (read only; it never writes a Deployment itself).
- apiGroups: [apps]
  resources: [deployments]
  verbs: [list, watch]
# Function pods (by label): they are a function's endpoints (a Ready pod is routed to; a starting
# pod is probed by the gateway and routed to at its first healthy answer); a call whose connection broke mid-way reads its pod to tell the caller whether
# it was killed for running out of memory.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
# CPU boost (the default, or a Function's spec.cpuMode): a function pod's CPU limit is taken
# down in place once the pod is Ready.
- apiGroups: [""]
  resources: [pods/resize]
  verbs: [patch]
{{- if .Values.gateway.rbac.readSecrets }}
# Invocation tokens and HMAC keys named by a Function's spec.access.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
{{- end }}
{{- end -}}

{{/* The warm pool (docs/warm-pool.md): whether any pool is on, and its namespace. */}}
{{- define "wisp.pool.enabled" -}}
{{- if or .Values.pool.python.enabled .Values.pool.node.enabled .Values.pool.java.enabled -}}true{{- end -}}
{{- end -}}

{{- define "wisp.pool.namespace" -}}
{{- .Values.pool.namespace | default .Values.gateway.defaultNamespace -}}
{{- end -}}

{{- define "wisp.pool.secretName" -}}
{{- include "wisp.fullname" . }}-pool-key
{{- end -}}
