{{/* Chart name. */}}
{{- define "flx.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or the release name when it already contains the chart name. */}}
{{- define "flx.fullname" -}}
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

{{- define "flx.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "flx.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flx.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "flx.labels" -}}
helm.sh/chart: {{ include "flx.chart" . }}
{{ include "flx.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: node
app.kubernetes.io/part-of: flx
app.kubernetes.io/managed-by: {{ .Release.Service }}
flx.familylinks.org/member: {{ .Values.member | quote }}
{{- end }}

{{- define "flx.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flx.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "flx.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/* "true" when the node uses PostgreSQL (DSN given or in an existing Secret). */}}
{{- define "flx.postgres" -}}
{{- if or .Values.store.dsn .Values.store.existingSecret }}true{{ end }}
{{- end }}

{{- define "flx.keysSecretName" -}}
{{- .Values.keys.existingSecret | default (printf "%s-keys" (include "flx.fullname" .)) }}
{{- end }}

{{- define "flx.storeSecretName" -}}
{{- .Values.store.existingSecret | default (printf "%s-store" (include "flx.fullname" .)) }}
{{- end }}

{{/*
Checks that fail the render with a message naming the value to set.
*/}}
{{- define "flx.validate" -}}
{{- if not (regexMatch "^[A-Z0-9][A-Z0-9-]{1,31}$" (.Values.member | default "")) }}
{{- fail (printf "member %q is not a member id: set member to this node's id in the federation manifest, e.g. --set member=XA-RC" (.Values.member | default "")) }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not (include "flx.postgres" .)) }}
{{- fail (printf "replicaCount=%d needs PostgreSQL: set store.existingSecret (or store.dsn). The embedded SQLite store has a single writer and cannot be shared between replicas." (int .Values.replicaCount)) }}
{{- end }}
{{- if and (not (include "flx.postgres" .)) (not .Values.persistence.enabled) }}
{{- fail "the embedded SQLite store needs a persistent data volume: set persistence.enabled=true, or use PostgreSQL with store.existingSecret (recommended in production)" }}
{{- end }}
{{- if and .Values.store.dsn .Values.store.existingSecret }}
{{- fail "set store.dsn or store.existingSecret, not both" }}
{{- end }}
{{- if and .Values.store.dsn (not (regexMatch "^postgres(ql)?://" .Values.store.dsn)) }}
{{- fail "store.dsn must be a postgres:// URL (leave it empty for the embedded SQLite store)" }}
{{- end }}
{{- if not .Values.keys.existingSecret }}
{{- if not (and .Values.keys.tlsCert .Values.keys.tlsKey .Values.keys.signingKey) }}
{{- fail "this member's keys are missing: set keys.existingSecret (a Secret with tls.crt, tls.key, signing.jwk) or give keys.tlsCert, keys.tlsKey and keys.signingKey with --set-file" }}
{{- end }}
{{- end }}
{{- if and .Values.keys.existingSecret .Values.keys.matchSecret }}
{{- fail "keys.matchSecret is put in the Secret the chart creates, and keys.existingSecret is set: put match-secret.json in that Secret and set keys.matchSecretInExistingSecret=true instead" }}
{{- end }}
{{- if and .Values.keys.matchSecretInExistingSecret (not .Values.keys.existingSecret) }}
{{- fail "keys.matchSecretInExistingSecret needs keys.existingSecret (or give the secret with --set-file keys.matchSecret=match-secret.json)" }}
{{- end }}
{{- if not .Values.trust.anchor }}
{{- fail "trust.anchor is required: the federation trust anchor's public JWK (--set-file trust.anchor=anchor.jwk)" }}
{{- end }}
{{- if not (or .Values.trust.manifest .Values.trust.manifestURL) }}
{{- fail "the federation manifest is missing: set trust.manifestURL (https://...) or trust.manifest (--set-file trust.manifest=manifest.jws)" }}
{{- end }}
{{- if and .Values.trust.manifestURL (not (hasPrefix "https://" .Values.trust.manifestURL)) }}
{{- fail "trust.manifestURL must be an https:// URL" }}
{{- end }}
{{- if and (not .Values.policy.rules) (not (regexMatch "^[A-Z]{2}$" (.Values.policy.country | default ""))) }}
{{- fail "policy.country is required (ISO 3166 alpha-2, e.g. XA) unless you give the full rules file in policy.rules" }}
{{- end }}
{{- end }}

{{/* Mount points inside the pod (not nested: each volume has its own directory). */}}
{{- define "flx.paths" -}}
configDir: /etc/flx/config
config: /etc/flx/config/config.yaml
policy: /etc/flx/config/policy.yaml
anchor: /etc/flx/config/anchor.jwk
manifest: /etc/flx/config/manifest.jws
keysDir: /etc/flx/keys
dataDir: /var/lib/flx
{{- end }}

{{/*
The node's config.yaml: .Values.config merged under the settings the chart
owns (member, data_dir, listeners, paths).
*/}}
{{- define "flx.config" -}}
{{- $p := include "flx.paths" . | fromYaml }}
{{- $manifest := .Values.trust.manifestURL | default $p.manifest }}
{{- $fixed := dict
  "member" .Values.member
  "data_dir" $p.dataDir
  "federation" (dict
    "listen" (printf "0.0.0.0:%d" (int .Values.service.federation.port))
    "tls_cert" (printf "%s/tls.crt" $p.keysDir)
    "tls_key" (printf "%s/tls.key" $p.keysDir)
    "signing_key" (printf "%s/signing.jwk" $p.keysDir)
    "trust_anchor" $p.anchor
    "manifest" $manifest)
  "local_api" (dict "listen" (printf "0.0.0.0:%d" (int .Values.service.local.port)))
  "coordination" (dict "bundle_key" (printf "%s/bundle.jwk" $p.keysDir))
  "policy" (dict "rules" $p.policy)
}}
{{- if or .Values.keys.matchSecret .Values.keys.matchSecretInExistingSecret }}
{{- $_ := set $fixed "match" (dict "secret_file" (printf "%s/match-secret.json" $p.keysDir)) }}
{{- end }}
{{- $cfg := mergeOverwrite (deepCopy (.Values.config | default dict)) $fixed }}
{{- if hasKey $cfg "store" }}{{ $_ := unset $cfg "store" }}{{ end }}
# FLX node configuration rendered by the flx chart (see node/config/example.yaml).
# The store DSN comes from the FLX_STORE_DSN environment variable (a Secret).
{{ toYaml $cfg }}
{{- end }}

{{/* The data-protection rules file. */}}
{{- define "flx.policy" -}}
{{- if .Values.policy.rules }}
{{- .Values.policy.rules }}
{{- else }}
# Generated by the flx chart: every rule keeps its strict default
# (policy/example-rules.yaml). Give your Society's own file in policy.rules.
schema: flx/policy/v1
version: {{ .Values.policy.version | quote }}
member: {{ .Values.member }}
country: {{ .Values.policy.country }}
{{- end }}
{{- end }}
