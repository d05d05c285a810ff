package schema

import (
	"embed"
	"io/fs"
)

// Version is the schema version this package implements.
const Version = "v1"

// BaseURI is the base of the $id of every schema file of this version.
const BaseURI = "https://schema.flx.invalid/v1/"

//go:embed v1/*.json
var schemaFS embed.FS

// Files returns the embedded schema files (defs.json, case.json,
// response.json, message.json, withdrawal.json, stats_report.json,
// match_query.json, match_answer.json), rooted at
// the v1 directory.
// A node can serve them, for instance for GET /.well-known/flx consumers.
func Files() fs.FS {
	sub, err := fs.Sub(schemaFS, "v1")
	if err != nil { // cannot happen: the directory is embedded
		panic(err)
	}
	return sub
}

// Kind names a document kind of schema v1.
type Kind string

// The document kinds.
const (
	KindCase       Kind = "case"
	KindResponse   Kind = "response"
	KindMessage    Kind = "message"
	KindWithdrawal Kind = "withdrawal"
)

// Kinds returns every document kind, in a fixed order.
func Kinds() []Kind {
	return []Kind{KindCase, KindResponse, KindMessage, KindWithdrawal}
}

// Valid reports whether k is a known document kind: one of Kinds, or
// KindStatsReport.
func (k Kind) Valid() bool {
	switch k {
	case KindCase, KindResponse, KindMessage, KindWithdrawal, KindStatsReport, KindMatchQuery, KindMatchAnswer:
		return true
	}
	return false
}

// SchemaID returns the $id of the schema file for k, e.g.
// https://schema.flx.invalid/v1/case.json.
func (k Kind) SchemaID() string { return BaseURI + string(k) + ".json" }

// SchemaTag returns the value of the "schema" member of a document of kind k,
// e.g. "flx/v1/case".
func (k Kind) SchemaTag() string { return "flx/" + Version + "/" + string(k) }

// Envelope kinds (the "kind" claim of a federation envelope).
const (
	EnvelopeCaseCreate     = "case.create"
	EnvelopeCaseUpdate     = "case.update"
	EnvelopeCaseResponse   = "case.response"
	EnvelopeMessageDeliver = "message.deliver"
	EnvelopeCaseWithdraw   = "case.withdraw"
)

// KindForEnvelope returns the document kind carried in the body of an
// envelope of the given kind, and false for an unknown envelope kind.
func KindForEnvelope(envelopeKind string) (Kind, bool) {
	switch envelopeKind {
	case EnvelopeCaseCreate, EnvelopeCaseUpdate:
		return KindCase, true
	case EnvelopeCaseResponse:
		return KindResponse, true
	case EnvelopeMessageDeliver:
		return KindMessage, true
	case EnvelopeCaseWithdraw:
		return KindWithdrawal, true
	case EnvelopeStatsReport:
		return KindStatsReport, true
	case EnvelopeMatchQuery:
		return KindMatchQuery, true
	case EnvelopeMatchAnswer:
		return KindMatchAnswer, true
	}
	return "", false
}
