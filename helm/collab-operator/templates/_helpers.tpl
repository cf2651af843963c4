{{/* Names and labels. */}}
{{- define "collab-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "collab-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "collab-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "collab-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "collab-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "collab-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "collab-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "collab-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "collab-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "collab-operator.reportBaseUrl" -}}
{{- default (printf "http://%s.%s.svc:%v" (include "collab-operator.fullname" .) .Release.Namespace .Values.operator.reportPort) .Values.operator.reportBaseUrl -}}
{{- end -}}

{{/*
The operator's RBAC rules: the one place they live. Rendered into a ClusterRole (cluster-wide mode) or into a Role in
each watched namespace (watchNamespaces). Every verb is one the operator's code uses; docs/install.md says which code
and why. test/integration/rbac.test.ts runs the operator impersonating this chart's ServiceAccount and removes each
verb in turn: a verb the code does not need, or a need the rules lack, fails it.
*/}}
{{- define "collab-operator.rules" -}}
# The jobs: informer (list, watch); delete a finished job once its ttlSecondsAfterFinished ran out; status by
# server-side apply on /status (patch).
- apiGroups: [collabllm.io]
  resources: [collabtrainingjobs]
  verbs: [list, watch, delete]
- apiGroups: [collabllm.io]
  resources: [collabtrainingjobs/status]
  verbs: [patch]
# Children carry ownerReferences with blockOwnerDeletion; OwnerReferencesPermissionEnforcement requires update on
# the owner's finalizers for that.
- apiGroups: [collabllm.io]
  resources: [collabtrainingjobs/finalizers]
  verbs: [update]
# Children: informers (list, watch); server-side apply creates them (patch, and create for a new object).
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [configmaps, services, persistentvolumeclaims]
  verbs: [list, watch, create, patch]
# The model servers of served roles (spec.<role>.serve): Deployments, children like the others (informer,
# server-side apply); garbage collection deletes them with the job.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [list, watch, create, patch]
# Secrets: the informer learns which referenced keys exist (values of users' Secrets are dropped before caching);
# create makes the job's internal token Secret, once. No get, update or delete.
- apiGroups: [""]
  resources: [secrets]
  verbs: [list, watch, create]
# core/v1 Events: create, and patch to fold a repeat into count; list and watch the ones autoscalers write about pods
# (TriggeredScaleUp, Nominated...: why a job waits for capacity), by field selector on their reason.
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch, list, watch]
# Native gang scheduling (Kubernetes 1.37, scheduling.k8s.io/v1beta1): the attempt's PodGroup is a child like the
# others (informer, server-side apply) and the PodGroups of ended attempts are deleted. Unused, and harmless, where
# the API is not served.
- apiGroups: [scheduling.k8s.io]
  resources: [podgroups]
  verbs: [list, watch, create, patch, delete]
# Kueue: its Workloads are read (informer) for the Queued and Admitted conditions; never written. Unused, and
# harmless, where Kueue is not installed.
- apiGroups: [kueue.x-k8s.io]
  resources: [workloads]
  verbs: [list, watch]
# What lets a refused child through once fixed: the namespace's ResourceQuotas and LimitRanges (informer, names only),
# so a job held back by one goes on as soon as it changes, not at its next retry.
- apiGroups: [""]
  resources: [resourcequotas, limitranges]
  verbs: [list, watch]
{{- end -}}

{{/*
Cluster-wide mode only (a ClusterRole): PriorityClasses are cluster-scoped, and a job refused for a missing one goes on
as soon as it is created. In namespaced mode that job goes on at its next retry instead (a minute at most).
*/}}
{{- define "collab-operator.clusterRules" -}}
- apiGroups: [scheduling.k8s.io]
  resources: [priorityclasses]
  verbs: [list, watch]
{{- end -}}

{{/*
Leader election, in the Lease's namespace: create it the first time (create cannot be narrowed to a name), then read,
renew, take over and release only that Lease.
*/}}
{{- define "collab-operator.leaderElectionRules" -}}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [create]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  resourceNames: [{{ .Values.operator.leaderElectionId | quote }}]
  verbs: [get, update]
{{- end -}}

{{- define "collab-operator.leaderElectionNamespace" -}}
{{- default .Release.Namespace .Values.operator.leaderElectionNamespace -}}
{{- end -}}
