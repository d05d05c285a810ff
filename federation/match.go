package federation

// The kinds of cross-border matching (conformance/SPEC.md §20). Their
// bodies are schema v1's match_query and match_answer documents, not case
// documents; the case_id claim is the asking member's case:
//
//   - match.query: a member asks whether the recipient holds a likely match
//     for one sought person of its own case (only the case's origin sends
//     it), sending a privacy-preserving encoding of the person, never a
//     name;
//   - match.answer: the recipient answers with opaque handles and scores
//     (only the answering member, named as responder, sends it).
const (
	KindMatchQuery  Kind = "match.query"
	KindMatchAnswer Kind = "match.answer"
)

// MatchKinds lists the kinds of cross-border matching.
var MatchKinds = []Kind{KindMatchQuery, KindMatchAnswer}
