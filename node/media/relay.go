package media

import "github.com/familylinks/flx/federation"

// carried returns the envelope whose media an offer transfers: env itself,
// or, when env is a relay.forward (SPEC.md §18.10), the message it carries
// as its inner token. The server's Verify must have checked the chain and
// the inner envelope (the node's does, with federation.OpenRelay): the
// inner claims are read here, not verified again. The upload still belongs
// to the authenticated sender of the hop (UploadID(peer, ref)): each hop
// sends the media in full, checked chunk by chunk against the origin's
// signed hash list.
func carried(raw []byte, env *federation.Envelope) (*federation.Envelope, *federation.Error) {
	if env.Kind != federation.KindRelayForward {
		return env, nil
	}
	inner, err := federation.RelayInner(raw)
	if err != nil {
		return nil, &federation.Error{Code: federation.CodeBadEnvelope, Msg: "the relay.forward body does not decode", Err: err}
	}
	c, err := federation.ClaimsOf(inner)
	if err != nil {
		return nil, &federation.Error{Code: CodeBadUpload, Msg: "the relay.forward carries no envelope", Err: err}
	}
	return &federation.Envelope{Claims: c}, nil
}
