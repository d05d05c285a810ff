package schema

// Match queries and answers (conformance/SPEC.md §20). They are not case
// documents: like the statistics report, they are not among Kinds but
// Validate knows them.

// The document kinds of cross-border matching.
const (
	KindMatchQuery  Kind = "match_query"
	KindMatchAnswer Kind = "match_answer"
)

// The envelope kinds that carry them.
const (
	EnvelopeMatchQuery  = "match.query"
	EnvelopeMatchAnswer = "match.answer"
)

// MatchQuery asks whether the recipient holds a likely match for one sought
// person, sent as a privacy-preserving encoding only (schema
// "flx/v1/match_query").
type MatchQuery struct {
	Schema   string        `json:"schema"`
	CaseID   string        `json:"case_id"`
	PersonID string        `json:"person_id"`
	Encoding MatchEncoding `json:"encoding"`
}

// MatchEncoding is the wire form of a node/match/pprl encoding.
type MatchEncoding struct {
	V       int         `json:"v"`
	Alg     string      `json:"alg"`
	KeyID   string      `json:"kid"`
	Params  MatchParams `json:"params"`
	Exp     DateTime    `json:"exp"`
	Filters []string    `json:"filters"`
	Blocks  []string    `json:"blocks"`
}

// MatchParams are the encoding's parameters.
type MatchParams struct {
	Bits      int     `json:"l"`
	KSkeleton int     `json:"k_skel"`
	KPhonetic int     `json:"k_phon"`
	KYear     int     `json:"k_year"`
	KSex      int     `json:"k_sex"`
	Flip      float64 `json:"flip"`
	BlockBits int     `json:"block_bits"`
}

// MatchAnswer answers a MatchQuery with handles and scores (schema
// "flx/v1/match_answer").
type MatchAnswer struct {
	Schema     string           `json:"schema"`
	CaseID     string           `json:"case_id"`
	PersonID   string           `json:"person_id"`
	InReplyTo  string           `json:"in_reply_to"`
	Responder  string           `json:"responder"`
	Candidates []MatchCandidate `json:"candidates"`
}

// MatchCandidate is one likely match in a MatchAnswer.
type MatchCandidate struct {
	Handle string  `json:"handle"`
	Score  float64 `json:"score"`
}

// ParseMatchQuery validates doc as a match query and decodes it.
func ParseMatchQuery(doc []byte) (*MatchQuery, error) {
	return parseAs[MatchQuery](KindMatchQuery, doc)
}

// ParseMatchAnswer validates doc as a match answer and decodes it.
func ParseMatchAnswer(doc []byte) (*MatchAnswer, error) {
	return parseAs[MatchAnswer](KindMatchAnswer, doc)
}
