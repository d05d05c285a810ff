// Package schema defines the standardized FLX tracing case schema, version 1:
// the documents that travel inside signed federation envelopes between the
// nodes of National Red Cross / Red Crescent Societies and the ICRC Central
// Tracing Agency.
//
// It provides, for each document [Kind] (case, response, message,
// withdrawal):
//
//   - the JSON Schema 2020-12 files, embedded (see [Files]) and published as
//     https://schema.flx.invalid/v1/<kind>.json;
//   - Go types mirroring them ([Case], [Person], [Response], [Message],
//     [Withdrawal], ...), kept in step with the files by tests;
//   - [Validate], which checks a document against its schema (format
//     assertions on, duplicate keys and invalid UTF-8 rejected) and reports
//     every violation with its RFC 6901 JSON pointer in a [*ValidationError]
//     (a fast check walks the schemas jsonschema compiled and answers
//     "valid" without jsonschema's validator only where that validator
//     would; every other document goes through it, so violations are
//     always jsonschema's);
//   - [KindForEnvelope], mapping envelope kinds to document kinds;
//   - the statistics report ([KindStatsReport], [StatsReport]): the body of
//     a stats.report envelope, activity counts without personal data
//     (computed by node/stats);
//   - realistic example documents ([Examples]) used by the policy engine's
//     golden tests and the node demo. Every name, country and member in them
//     is invented (countries XA..XD, members XA-RC, XB-RC, XC-RC, ICRC-CTA).
//
// Everything a data-protection policy may redact is optional in the schema,
// so a redacted document still validates. A redactor removes a member; it
// never blanks a string (strings have minLength 1).
//
// Violation messages never echo instance values, so a validation error can be
// logged or returned to a peer without disclosing personal data.
//
// Schema compilation uses only the embedded files: the loader refuses every
// URL, so validating never reads the network or the file system.
//
// Package schema is a leaf: it must never import any other FLX package (node,
// federation, policy, conformance) nor any network code (net, net/http); it
// must not import jwx either. Only the standard library and
// github.com/santhosh-tekuri/jsonschema/v6 are allowed.
package schema
