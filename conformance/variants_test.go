package conformance_test

import (
	"strings"

	"github.com/familylinks/flx/conformance/variant"
)

// brokenNode is a variant of the node that breaks one requirement, and the
// check that must catch it (SPEC.md §13.5). Its mutations are applied to the
// node's sources by the teeth test (conformance/variant): one binary holds
// every variant, and each candidate process runs as one of them. A
// mutation whose old text no longer matches the node's code fails the
// build, naming it.
type brokenNode struct {
	variant.Variant
	broke string // what the node does wrong
	check string // the check that must fail (warn, for a SHOULD)
	// accepts, when set, are the kinds the candidate accepts (conformance
	// init --accepts): for what depends on kinds a member leaves out.
	accepts string
	// req is the requirement the node breaks, one of those the check
	// covers; empty means the check's first.
	req string
	// role, when set, is the candidate's role in the conformance manifest
	// (coordinator: for what only a member that may relay does), or
	// rolePullOnly (init --pull-only: for what a member that pulls does).
	role string
}

// breaks returns the requirement b breaks.
func (b brokenNode) breaks() string {
	if b.req != "" {
		return b.req
	}
	id, _, _ := strings.Cut(b.check, "/")
	return id
}

// brokenNodes are the teeth test's variants. Add one per requirement: a
// name, what the node then does wrong, the check that must catch it, and
// the smallest mutation that breaks it.
var brokenNodes = []brokenNode{
	{
		Variant: variant.Variant{Name: "mediahashlist", Mutations: []variant.Mutation{{
			File: "node/media/ref.go", Old: `	if Sum(b) != ref.ChunksRoot {`, New: `	if false && Sum(b) != ref.ChunksRoot {`,
		}}},
		broke: "takes a chunk hash list that is not the signed one", check: "FLX-MED-003/offer-verified",
	},
	{
		Variant: variant.Variant{Name: "mediaowner", Mutations: []variant.Mutation{{
			File: "node/media/server.go", Old: `	if errors.Is(err, ErrNotFound) || (err == nil && st.Owner != peer) {`, New: `	if errors.Is(err, ErrNotFound) {`,
		}}},
		broke: "lets any member read and write another member's upload", check: "FLX-MED-005/other-member",
	},
	{
		Variant: variant.Variant{Name: "mediaoffset", Mutations: []variant.Mutation{{
			File: "node/media/server.go",
			Old:  `		s.refuse(w, peer, CodeOffsetMismatch, "the upload is at offset "+strconv.FormatInt(cur, 10), nil)`,
			New:  `		s.refuse(w, peer, CodeBadUpload, "the upload is at offset "+strconv.FormatInt(cur, 10), nil)`,
		}}},
		broke: "answers a PATCH at the wrong offset without offset_mismatch", check: "FLX-MED-008/offset-mismatch",
	},
	{
		Variant: variant.Variant{Name: "mediachunk", Mutations: []variant.Mutation{{
			File: "node/media/server.go", Old: `		if Sum(buf[:n]) != hashes[i] {`, New: `		if false && Sum(buf[:n]) != hashes[i] {`,
		}}},
		broke: "counts chunks without checking them against the signed hash list", check: "FLX-MED-009/chunk-verified",
	},
	{
		Variant: variant.Variant{Name: "mediaready", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: `	if err := n.mediaReady(ctx, env); err != nil {`, New: `	if err := n.mediaReady(ctx, env); err != nil && false {`,
		}}},
		broke: "receipts a message before its media arrived", check: "FLX-MED-010/media-before-envelope",
	},
	{
		Variant: variant.Variant{Name: "mediasize", Mutations: []variant.Mutation{{
			File: "node/media/server.go", Old: `	if ref.Size > lim.MaxMediaBytes {`, New: `	if ref.Size > 2*lim.MaxMediaBytes {`,
		}}},
		broke: "takes media larger than its advertised max_media_bytes", check: "FLX-MED-012/too-large",
	},
	{
		Variant: variant.Variant{Name: "replay", Mutations: []variant.Mutation{{
			File: "node/receive.go",
			Old: `	case errors.Is(err, store.ErrReplay):
		return res, errf(federation.CodeReplay, "jti %q was already received with other content", env.JTI)`,
			New: `	case errors.Is(err, store.ErrReplay):
		return Received{Receipt: receipt, Status: federation.ReceiptAccepted, JTI: env.JTI, Kind: env.Kind}, nil`,
		}, {
			// A lone case.create is stored as a batch of one (storeAdmitted).
			File: "node/receivebatch.go",
			Old: `		case replays[k]:
			it.Received, it.Err = Received{}, errf(federation.CodeReplay, "jti %q was already received with other content", a.env.JTI)`,
			New: `		case replays[k]:
			it.InboxID = 0`,
		}}},
		broke: "accepts the same (iss, jti) with other bytes", check: "FLX-DLV-010/replay",
	},
	{
		Variant: variant.Variant{Name: "algnone", Mutations: []variant.Mutation{
			{File: "federation/jose/jws.go", Old: `	if !hdr.Alg.Supported() {`, New: `	if !hdr.Alg.Supported() && hdr.Alg != "none" {`},
			{File: "federation/jose/jws.go", Old: `	if len(sig) == 0 {`, New: `	if len(sig) == 0 && hdr.Alg != "none" {`},
			{File: "federation/jose/jws.go", Old: `	if k.alg != t.hdr.Alg {`, New: `	if t.hdr.Alg == "none" {
		return t.payload, nil
	}
	if k.alg != t.hdr.Alg {`},
		}},
		broke: "trusts alg none without a signature", check: "FLX-KEY-004/alg-none",
	},
	{
		Variant: variant.Variant{Name: "audience", Mutations: []variant.Mutation{{
			File: "federation/envelope.go", Old: `	if w.Aud != v.Self {`, New: `	if w.Aud == "" {`,
		}}},
		broke: "ignores the audience", check: "FLX-ENV-006/wrong-audience",
	},
	{
		Variant: variant.Variant{Name: "earlyack", Mutations: []variant.Mutation{{
			File: "node/receive.go",
			Old:  `	r, err := receiveTx(ctx, item, store.Receipt{Status: string(federation.ReceiptAccepted), Raw: receipt})`,
			New: `	go func() {
		time.Sleep(2 * time.Second)
		_, _ = n.o.Store.Receive(context.WithoutCancel(ctx), item, store.Receipt{Status: string(federation.ReceiptAccepted), Raw: receipt})
		signal(n.kick)
	}()
	if true {
		return Received{Receipt: receipt, Status: federation.ReceiptAccepted, JTI: env.JTI, Kind: env.Kind}, nil
	}
	r, err := receiveTx(ctx, item, store.Receipt{Status: string(federation.ReceiptAccepted), Raw: receipt})`,
		}, {
			// A lone case.create is stored as a batch of one (storeAdmitted).
			File: "node/receivebatch.go",
			Old:  "\t\terr := storeBatch(ctx, true)",
			New: `		var err error
		go func() {
			time.Sleep(2 * time.Second)
			_ = storeBatch(context.WithoutCancel(ctx), true)
			signal(n.kick)
		}()`,
		}}},
		broke: "answers 202 before the envelope is stored", check: "FLX-DLV-009/duplicate",
	},
	{
		Variant: variant.Variant{Name: "nobackoff", Mutations: []variant.Mutation{
			{File: "node/delivery/delivery.go", Old: `	next := d.o.Now().Add(d.o.Backoff.Wait(failedInRow(it, breaks), res.RetryAfter))`, New: `	next := d.o.Now()`},
			{File: "node/delivery/delivery.go", Old: `			until := ds.Failure(d.o.Now(), retryAfter, reason)`, New: `			ds.Success()
			_ = reason
			until := d.o.Now()`},
		}},
		broke: "retries without backoff", check: "FLX-DLV-004/backoff",
	},
	{
		Variant: variant.Variant{Name: "noretryafter", Mutations: []variant.Mutation{{
			File: "node/delivery/delivery.go",
			Old: `	res := d.sender.Send(ctx, it.Destination, it.Envelope)
`,
			New: `	res := d.sender.Send(ctx, it.Destination, it.Envelope)
	res.RetryAfter = 0
`,
		}}},
		broke: "ignores Retry-After", check: "FLX-DLV-006/retry-after",
	},
	{
		Variant: variant.Variant{Name: "noconfirm", Mutations: []variant.Mutation{{
			File: "node/process.go",
			Old: `	if _, err := n.enqueue(ctx, tx, it.Iss, federation.KindCaseWithdraw, w.CaseID, 0, body); err != nil {
		return nil, nil, err
	}`,
			New: `	_ = body`,
		}}},
		broke: "never confirms a withdrawal", check: "FLX-WDR-005/confirmation",
	},
	{
		Variant: variant.Variant{Name: "nolimit", Mutations: []variant.Mutation{
			{File: "node/receive.go", Old: `	if int64(len(raw)) > n.o.MaxBodyBytes {`, New: `	if false {`},
			{File: "node/httpapi/federation.go", Old: `	limit := f.n.MaxBodyBytes()`, New: `	limit := int64(1 << 40)`},
		}},
		broke: "has no body size limit", check: "FLX-LIM-002/too-large",
	},
	{
		Variant: variant.Variant{Name: "receipthash", Mutations: []variant.Mutation{
			{File: "node/receive.go", Old: `	rc := federation.ReceiptFor(env, federation.ReceiptAccepted, n.o.Now())`,
				New: `	rc := federation.ReceiptFor(env, federation.ReceiptAccepted, n.o.Now())
	rc.SHA256 = fmt.Sprintf("%x", sha256.Sum256(env.Body))`, Imports: []string{"crypto/sha256", "fmt"}},
			{File: "node/receive.go", Old: `		drc := federation.ReceiptFor(env, federation.ReceiptDuplicate, n.o.Now())`,
				New: `		drc := federation.ReceiptFor(env, federation.ReceiptDuplicate, n.o.Now())
		drc.SHA256 = fmt.Sprintf("%x", sha256.Sum256(env.Body))`, Imports: []string{"crypto/sha256", "fmt"}},
		}},
		broke: "binds receipts to the body instead of the envelope bytes", check: "FLX-RCP-001/receipt", req: "FLX-RCP-003",
	},
	// One variant per core requirement the suite can see from outside
	// (SPEC.md §13.5). Append new ones at the end.
	{
		Variant: variant.Variant{Name: "tls12", Mutations: []variant.Mutation{{
			File: "federation/mtls/config.go", Old: "MinVersion:   tls.VersionTLS13,\n\t\tCertificates: []tls.Certificate{cert},",
			New: "MinVersion:   tls.VersionTLS12,\n\t\tCertificates: []tls.Certificate{cert},",
		}}},
		broke: "accepts TLS 1.2 on the federation listener", check: "FLX-TLS-001/tls12-refused",
	},
	{
		Variant: variant.Variant{Name: "optional-client-cert", Mutations: []variant.Mutation{
			{File: "federation/mtls/config.go", Old: "ClientAuth: tls.RequireAnyClientCert,", New: "ClientAuth: tls.RequestClientCert,"},
			{File: "federation/mtls/config.go", Old: "if _, err := VerifyPeer(dir, cs.PeerCertificates, x509.ExtKeyUsageClientAuth, o.now()); err != nil {",
				New: "if _, err := VerifyPeer(dir, cs.PeerCertificates, x509.ExtKeyUsageClientAuth, o.now()); err != nil && len(cs.PeerCertificates) > 0 {"},
			{File: "federation/mtls/middleware.go", Old: "if r.TLS == nil || !r.TLS.HandshakeComplete || len(r.TLS.PeerCertificates) == 0 {",
				New: "if r.TLS != nil && len(r.TLS.PeerCertificates) == 0 && r.Method == http.MethodGet {\n\t\t\t\tnext.ServeHTTP(w, r)\n\t\t\t\treturn\n\t\t\t}\n\t\t\tif r.TLS == nil || !r.TLS.HandshakeComplete || len(r.TLS.PeerCertificates) == 0 {"},
		}},
		broke: "serves GET requests to clients without a certificate", check: "FLX-TLS-002/no-client-cert",
	},
	{
		Variant: variant.Variant{Name: "expired-cert", Mutations: []variant.Mutation{
			{File: "federation/mtls/verify.go", Old: "\tif err != nil {\n\t\treturn \"\", fmt.Errorf(\"%w: %w\", ErrUntrustedCertificate, err)",
				New: "\tif cie := (x509.CertificateInvalidError{}); errors.As(err, &cie) && cie.Reason == x509.Expired {\n\t\terr = nil\n\t}\n\tif err != nil {\n\t\treturn \"\", fmt.Errorf(\"%w: %w\", ErrUntrustedCertificate, err)"},
			{File: "federation/mtls/verify.go", Old: "if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {", New: "if now.Before(leaf.NotBefore) {"},
		}},
		broke: "accepts an expired client certificate", check: "FLX-TLS-003/expired",
	},
	{
		Variant: variant.Variant{Name: "foreign-ca", Mutations: []variant.Mutation{
			{File: "federation/mtls/verify.go", Old: "\tif err != nil {\n\t\treturn \"\", fmt.Errorf(\"%w: %w\", ErrUntrustedCertificate, err)",
				New:     "\tif uae := (x509.UnknownAuthorityError{}); errors.As(err, &uae) && len(certs) > 1 || errors.As(err, &uae) && !bytes.Equal(leaf.RawIssuer, leaf.RawSubject) {\n\t\terr = nil\n\t}\n\tif err != nil {\n\t\treturn \"\", fmt.Errorf(\"%w: %w\", ErrUntrustedCertificate, err)",
				Imports: []string{"bytes"}},
		}},
		broke: "trusts a pinned key whatever CA issued its certificate", check: "FLX-TLS-003/foreign-ca",
	},
	{
		Variant: variant.Variant{Name: "no-clientauth", Mutations: []variant.Mutation{
			{File: "federation/mtls/verify.go", Old: "if !slices.Contains(leaf.ExtKeyUsage, usage) {", New: "if len(leaf.ExtKeyUsage) == 0 {"},
			{File: "federation/mtls/verify.go", Old: "KeyUsages:     []x509.ExtKeyUsage{usage},", New: "KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},"},
		}},
		broke: "accepts a client certificate without the clientAuth usage", check: "FLX-TLS-003/no-clientauth",
	},
	{
		Variant: variant.Variant{Name: "self-signed", Mutations: []variant.Mutation{
			{File: "federation/mtls/verify.go", Old: "\tif err != nil {\n\t\treturn \"\", fmt.Errorf(\"%w: %w\", ErrUntrustedCertificate, err)",
				New:     "\tif len(certs) == 1 && bytes.Equal(leaf.RawIssuer, leaf.RawSubject) && leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) == nil {\n\t\terr = nil\n\t}\n\tif err != nil {\n\t\treturn \"\", fmt.Errorf(\"%w: %w\", ErrUntrustedCertificate, err)",
				Imports: []string{"bytes"}},
		}},
		broke: "accepts a self-signed certificate whose key is pinned", check: "FLX-TLS-003/self-signed",
	},
	{
		Variant: variant.Variant{Name: "unpinned", Mutations: []variant.Mutation{{
			File: "federation/mtls/verify.go", Old: "\tmember, ok := dir.MemberBySPKI(pin)\n",
			New: "\tmember, ok := dir.MemberBySPKI(pin)\n\tif ids := certMemberIDs(leaf); !ok && len(ids) > 0 {\n\t\tmember, ok = ids[0], true\n\t}\n",
		}}},
		broke: "takes the member from the certificate's URI SAN when its key is pinned for no one", check: "FLX-ID-001/unpinned-key",
	},
	{
		Variant: variant.Variant{Name: "uri-san", Mutations: []variant.Mutation{{
			File: "federation/mtls/verify.go", Old: "if named != member {", New: "if named == \"\" {",
		}}},
		broke: "ignores a URI SAN naming another member than the pin", check: "FLX-ID-002/uri-san-mismatch",
	},
	{
		Variant: variant.Variant{Name: "iss-not-peer", Mutations: []variant.Mutation{{
			File: "federation/envelope.go", Old: "if authenticatedPeer != \"\" && u.w.Iss != authenticatedPeer {", New: "if authenticatedPeer == \"-\" && u.w.Iss != authenticatedPeer {",
		}}},
		broke: "accepts an envelope whose iss is not the TLS peer", check: "FLX-ID-003/iss-not-peer",
	},
	{
		Variant: variant.Variant{Name: "suspended", Mutations: []variant.Mutation{
			{File: "federation/manifest.go", Old: "if !ok || mb.Status != StatusActive {\n\t\treturn \"\", false", New: "if !ok {\n\t\treturn \"\", false"},
			{File: "federation/envelope.go", Old: "if mb.Status != StatusActive {\n\t\treturn nil, newErr(CodeSuspendedMember", New: "if mb.Status == \"\" {\n\t\treturn nil, newErr(CodeSuspendedMember"},
		}},
		broke: "accepts envelopes from a suspended member", check: "FLX-ID-004/suspended-member",
	},
	{
		Variant: variant.Variant{Name: "no-es256", Mutations: []variant.Mutation{{
			File: "federation/envelope.go", Old: "\tu.tok, u.key = tok, key\n\treturn nil\n}",
			New: "\tif key.Alg() == jose.ES256 {\n\t\treturn newErr(CodeUnsupportedAlg, \"EdDSA only\", nil)\n\t}\n\tu.tok, u.key = tok, key\n\treturn nil\n}",
		}}},
		broke: "refuses ES256 envelopes", check: "FLX-KEY-001/ed25519-and-p256",
	},
	{
		Variant: variant.Variant{Name: "embedded-key", Mutations: []variant.Mutation{{
			File: "federation/jose/jws.go", Old: "\t\tif !allowedHeader[name] {\n",
			New:     "\t\tif !allowedHeader[name] && (strings.HasPrefix(name, \"j\") || strings.HasPrefix(name, \"x5\")) {\n\t\t\tvar skip json.RawMessage\n\t\t\t_ = dec.Decode(&skip)\n\t\t\tcontinue\n\t\t}\n\t\tif !allowedHeader[name] {\n",
			Imports: []string{"strings"},
		}}},
		broke: "ignores jwk, jku and x5* header members instead of refusing them", check: "FLX-KEY-003/embedded-jwk",
	},
	{
		Variant: variant.Variant{Name: "hmac-public-key", Mutations: []variant.Mutation{{
			File: "federation/jose/jws.go", Old: "\tif !hdr.Alg.Supported() {\n\t\treturn nil, fmt.Errorf(\"%w: %q\", ErrUnsupportedAlg, hdr.Alg)",
			New: "\tif !hdr.Alg.Supported() && hdr.Alg != \"HS256\" {\n\t\treturn nil, fmt.Errorf(\"%w: %q\", ErrUnsupportedAlg, hdr.Alg)",
		}, {
			File: "federation/jose/jws.go", Old: "\tif k.alg != t.hdr.Alg {\n\t\treturn nil, fmt.Errorf(\"%w: header %q, key %q\", ErrAlgMismatch, t.hdr.Alg, k.alg)",
			New:     "\tif pk, ok := k.CryptoPublicKey().(ed25519.PublicKey); ok && t.hdr.Alg == \"HS256\" {\n\t\tmac := hmac.New(sha256.New, pk)\n\t\tmac.Write(t.input)\n\t\tif hmac.Equal(t.sig, mac.Sum(nil)) {\n\t\t\treturn t.payload, nil\n\t\t}\n\t}\n\tif k.alg != t.hdr.Alg {\n\t\treturn nil, fmt.Errorf(\"%w: header %q, key %q\", ErrAlgMismatch, t.hdr.Alg, k.alg)",
			Imports: []string{"crypto/hmac"},
		}}},
		broke: "verifies HS256 keyed with the sender's public key", check: "FLX-KEY-005/hs256-public-key-as-secret",
	},
	{
		Variant: variant.Variant{Name: "alg-not-pinned", Mutations: []variant.Mutation{{
			File: "federation/jose/jws.go", Old: "\tif k.alg != t.hdr.Alg {\n\t\treturn nil, fmt.Errorf(\"%w: header %q, key %q\", ErrAlgMismatch, t.hdr.Alg, k.alg)",
			New: "\tif !t.hdr.Alg.Supported() {\n\t\treturn nil, fmt.Errorf(\"%w: header %q, key %q\", ErrAlgMismatch, t.hdr.Alg, k.alg)",
		}}},
		broke: "does not compare the header alg with the key's", check: "FLX-KEY-006/alg-not-the-keys",
	},
	{
		Variant: variant.Variant{Name: "kid-of-other-member", Mutations: []variant.Mutation{{
			File: "federation/envelope.go", Old: "\tkey := mb.JWKS.Key(kid)\n\tif key == nil {\n",
			New: "\tkey := mb.JWKS.Key(kid)\n\tif _, k, ok := m.KeyByKID(kid); key == nil && ok {\n\t\tkey = k\n\t}\n\tif key == nil {\n",
		}}},
		broke: "looks a kid up in the whole manifest", check: "FLX-KEY-007/kid-of-other-member",
	},
	{
		Variant: variant.Variant{Name: "key-validity", Mutations: []variant.Mutation{{
			File: "federation/envelope.go", Old: "if !key.ValidAt(now, skew) {", New: "if key.KID() == \"\" {",
		}}},
		broke: "ignores the nbf and exp of keys", check: "FLX-KEY-008/unknown-expired-future-key",
	},
	{
		Variant: variant.Variant{Name: "trailing-space", Mutations: []variant.Mutation{{
			File: "federation/envelope.go", Old: "\ttok, err := jose.Parse(raw, TypEnvelope)", New: "\traw = bytes.TrimSpace(raw)\n\ttok, err := jose.Parse(raw, TypEnvelope)", Imports: []string{"bytes"},
		}}},
		broke: "trims white space around the JWS", check: "FLX-ENV-001/not-compact",
	},
	{
		Variant: variant.Variant{Name: "typ-case", Mutations: []variant.Mutation{{
			File: "federation/jose/jws.go", Old: "\tif hdr.Typ != typ {", New: "\tif !strings.EqualFold(hdr.Typ, typ) {", Imports: []string{"strings"},
		}}},
		broke: "compares typ without case", check: "FLX-ENV-002/header-members",
	},
	{
		Variant: variant.Variant{Name: "no-signature-check", Mutations: []variant.Mutation{{
			File: "federation/jose/jws.go", Old: "\tif !ok {\n\t\treturn nil, fmt.Errorf(\"%w: %s signature does not verify\", ErrBadSignature, k.alg)\n\t}",
			New: "\tif !ok {\n\t\treturn t.payload, nil\n\t}",
		}}},
		broke: "accepts a signature that does not verify", check: "FLX-ENV-003/payload-changed",
	},
	{
		Variant: variant.Variant{Name: "lax-claims", Mutations: []variant.Mutation{{
			File: "federation/envelope.go", Old: "\tif err := decodeOwnedClaims(tok.UnverifiedPayload(), &u.w); err != nil {",
			New: "\tif err := json.Unmarshal(tok.UnverifiedPayload(), &u.w); err != nil {",
		}}},
		broke: "decodes claims with encoding/json (unknown, misspelt and repeated claims pass)", check: "FLX-ENV-004/claims-shape",
	},
	{
		Variant: variant.Variant{Name: "ttl-14d", Mutations: []variant.Mutation{{
			File: "federation/envelope.go", Old: "if w.Exp-w.Iat > int64(v.maxTTL()/time.Second) {", New: "if w.Exp-w.Iat > 2*int64(v.maxTTL()/time.Second) {",
		}}},
		broke: "allows envelope lifetimes of 14 days", check: "FLX-ENV-005/claim-values",
	},
	{
		Variant: variant.Variant{Name: "ignores-exp", Mutations: []variant.Mutation{{
			File: "federation/envelope.go", Old: "if !now.Add(-skew).Before(c.ExpiresAt) {", New: "if c.ExpiresAt.IsZero() {",
		}}},
		broke: "accepts expired envelopes", check: "FLX-ENV-007/expired",
	},
	{
		Variant: variant.Variant{Name: "ignores-iat", Mutations: []variant.Mutation{{
			File: "federation/envelope.go", Old: "if c.IssuedAt.After(now.Add(skew)) {", New: "if c.IssuedAt.IsZero() {",
		}}},
		broke: "accepts envelopes issued in the future", check: "FLX-ENV-008/not-yet-valid",
	},
	{
		Variant: variant.Variant{Name: "unknown-kind-code", Mutations: []variant.Mutation{{
			File: "federation/envelope.go", Old: "\tif err := checkKind(c.Kind); err != nil {\n\t\treturn nil, err\n\t}\n\tenv :=",
			New: "\tif err := checkKind(c.Kind); err != nil {\n\t\treturn nil, newErr(CodeBadEnvelope, \"unknown kind\", err)\n\t}\n\tenv :=",
		}}},
		broke: "refuses an unknown kind with bad_envelope", check: "FLX-ENV-009/unknown-kind",
	},
	{
		Variant: variant.Variant{Name: "case-id-mismatch", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: "if h.CaseID != env.CaseID {", New: "if h.CaseID == \"\" {",
		}}},
		broke: "does not compare the case_id claim with body.case_id", check: "FLX-ENV-010/case-id-mismatch",
	},
	{
		Variant: variant.Variant{Name: "responder", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: "if h.Responder != env.Issuer {\n\t\t\treturn errf(federation.CodeSenderMismatch, \"the response's", New: "if h.Responder == \"\" {\n\t\t\treturn errf(federation.CodeSenderMismatch, \"the response's",
		}}},
		broke: "accepts a case.response whose responder is not the sender", check: "FLX-ENV-011/sender-role",
	},
	{
		Variant: variant.Variant{Name: "audience-first", Mutations: []variant.Mutation{{
			File: "federation/envelope.go", Old: "\tkey, err := senderKey(m, u.w.Iss, tok.Header().KID, now, skew)",
			New: "\tif u.w.Aud != v.Self {\n\t\treturn newErr(CodeWrongAudience, \"aud is not this member\", nil)\n\t}\n\tkey, err := senderKey(m, u.w.Iss, tok.Header().KID, now, skew)",
		}}},
		broke: "checks aud before the signature", check: "FLX-ENV-012/signature-before-content",
	},
	{
		Variant: variant.Variant{Name: "receipt-content-type", Mutations: []variant.Mutation{{
			File: "node/httpapi/federation.go", Old: "\tw.Header().Set(\"Content-Type\", \"application/jose\")\n\tw.Header().Set(\"Cache-Control\", \"no-store\")\n\tw.WriteHeader(http.StatusAccepted)",
			New: "\tw.Header().Set(\"Content-Type\", \"application/json\")\n\tw.Header().Set(\"Cache-Control\", \"no-store\")\n\tw.WriteHeader(http.StatusAccepted)",
		}}},
		broke: "answers receipts as application/json", check: "FLX-RCP-001/receipt",
	},
	{
		Variant: variant.Variant{Name: "receipt-typ", Mutations: []variant.Mutation{{
			File: "federation/receipt.go", Old: "\tout, err := jose.Sign(payload, TypReceipt, signer)", New: "\tout, err := jose.Sign(payload, \"JWT\", signer)",
		}}},
		broke: "signs receipts with typ JWT", check: "FLX-RCP-001/receipt", req: "FLX-RCP-002",
	},
	{
		Variant: variant.Variant{Name: "trusts-202", Mutations: []variant.Mutation{{
			File: "federation/receipt.go", Old: "\tif w.SHA256 != want.SHA256 {\n", New: "\tif w.SHA256 == \"\" {\n",
		}}},
		broke: "does not compare a receipt's sha256 with the bytes it sent", check: "FLX-RCP-005/bad-receipt-retried",
	},
	{
		Variant: variant.Variant{Name: "resend-after-receipt", Mutations: []variant.Mutation{{
			File: "node/delivery/delivery.go", Old: "\t\tif err := d.record(ctx, it.LeaseUntil, func() error { return d.outbox.MarkDelivered(ctx, it.ID, res.Receipt.Raw()) }); err != nil {",
			New: "\t\tif err := d.outbox.MarkFailed(ctx, it.ID, it.Attempts, \"again\", d.o.Now().Add(time.Second)); err != nil {",
		}}},
		broke: "sends an envelope again after its receipt", check: "FLX-RCP-006/no-resend-after-receipt",
	},
	{
		Variant: variant.Variant{Name: "metadata-skew", Mutations: []variant.Mutation{{
			File: "node/httpapi/federation.go", Old: "ClockSkewSeconds: int64(f.n.Skew().Seconds()),", New: "ClockSkewSeconds: f.n.Skew().Milliseconds(),",
		}}},
		broke: "advertises its clock skew in milliseconds", check: "FLX-API-001/metadata",
	},
	{
		Variant: variant.Variant{Name: "content-type-lax", Mutations: []variant.Mutation{{
			File: "node/httpapi/federation.go", Old: "if err != nil || !strings.EqualFold(mt, \"application/jose\") {", New: "if err == nil && !strings.EqualFold(mt, \"application/jose\") && mt != \"application/json\" {",
		}}},
		broke: "accepts envelopes sent as application/json or without Content-Type", check: "FLX-API-003/content-type",
	},
	{
		Variant: variant.Variant{Name: "redirect", Mutations: []variant.Mutation{{
			File: "node/httpapi/federation.go", Old: "r.SkipClean(true)", New: "r.SkipClean(false)",
		}}},
		broke: "redirects unclean paths", check: "FLX-API-004/unknown-path", req: "FLX-API-006",
	},
	{
		Variant: variant.Variant{Name: "plain-404", Mutations: []variant.Mutation{{
			File: "node/httpapi/federation.go", Old: "\t\twriteProblem(w, problem.NotFound, \"no such federation resource\")", New: "\t\thttp.NotFound(w, nil)",
		}}},
		broke: "answers unknown paths with a plain-text 404", check: "FLX-API-004/unknown-path",
	},
	{
		Variant: variant.Variant{Name: "no-allow", Mutations: []variant.Mutation{{
			File: "node/httpapi/federation.go", Old: "\t\tw.Header().Set(\"Allow\", allow)", New: "\t\t_ = allow",
		}}},
		broke: "answers 405 without Allow", check: "FLX-API-005/method-not-allowed",
	},
	{
		Variant: variant.Variant{Name: "problem-json", Mutations: []variant.Mutation{{
			File: "federation/problem/problem.go", Old: "\th.Set(\"Content-Type\", MediaType)", New: "\th.Set(\"Content-Type\", \"application/json\")",
		}}},
		broke: "sends problem documents as application/json", check: "FLX-ERR-001/problem-documents",
	},
	{
		Variant: variant.Variant{Name: "no-pointers", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: "Errors: pointers(ve.Violations)}", New: "Errors: pointers(ve.Violations[:0])}",
		}}},
		broke: "gives schema_invalid without pointers", check: "FLX-ERR-003/schema-pointers",
	},
	{
		Variant: variant.Variant{Name: "echo-body", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: "Msg: \"body does not conform to schema v1 \" + string(docKind),", New: "Msg: \"body does not conform to schema v1 \" + string(docKind) + \": \" + string(env.Body),",
		}}},
		broke: "echoes the invalid body in the problem document", check: "FLX-ERR-004/no-personal-data",
	},
	{
		Variant: variant.Variant{Name: "message-unvalidated", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: "\tdoc, err := schema.ValidateObject(docKind, env.Body)\n", New: "\tdoc, err := schema.ValidateObject(docKind, env.Body)\n\tif err != nil && env.Kind == federation.KindMessageDeliver {\n\t\terr = json.Unmarshal(env.Body, &doc)\n\t}\n",
		}}},
		broke: "does not validate message.deliver bodies", check: "FLX-SCH-001/invalid-per-kind",
	},
	{
		Variant: variant.Variant{Name: "lenient-json", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: "\tdoc, err := schema.ValidateObject(docKind, env.Body)\n",
			New: "\tdoc, err := schema.ValidateObject(docKind, func() []byte {\n\t\tvar v any\n\t\tif json.Unmarshal(env.Body, &v) != nil {\n\t\t\treturn env.Body\n\t\t}\n\t\tb, _ := json.Marshal(v)\n\t\treturn b\n\t}())\n",
		}}},
		broke: "validates the body after a lenient decode (duplicates and lone surrogates pass)", check: "FLX-SCH-002/strict-json",
	},
	{
		Variant: variant.Variant{Name: "refuses-response", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: "!ok || !self.AcceptsKind(env.Kind) {", New: "!ok || !self.AcceptsKind(env.Kind) || env.Kind == federation.KindCaseResponse {",
		}}},
		broke: "refuses valid case.response envelopes", check: "FLX-SCH-003/examples-accepted",
	},
	{
		Variant: variant.Variant{Name: "limit-off-by-one", Mutations: []variant.Mutation{
			{File: "node/receive.go", Old: "if int64(len(raw)) > n.o.MaxBodyBytes {", New: "if int64(len(raw)) >= n.o.MaxBodyBytes {"},
			{File: "node/httpapi/federation.go", Old: "limit := f.n.MaxBodyBytes()\n\tif r.ContentLength > limit {", New: "limit := f.n.MaxBodyBytes()\n\tif r.ContentLength >= limit {"},
		}},
		broke: "refuses a body of exactly MAX_BODY bytes", check: "FLX-LIM-001/max-body-accepted",
	},
	{
		Variant: variant.Variant{Name: "skew-tripled", Mutations: []variant.Mutation{{
			File: "federation/envelope.go", Old: "\tif v.Skew > 0 {\n\t\treturn v.Skew\n\t}", New: "\tif v.Skew > 0 {\n\t\treturn 3 * v.Skew\n\t}",
		}}},
		broke: "applies three times the clock skew it advertises", check: "FLX-LIM-003/clock-skew",
	},
	{
		Variant: variant.Variant{Name: "dead-letter-503", Mutations: []variant.Mutation{{
			File: "federation/client.go", Old: "case status < 400, status == http.StatusRequestTimeout, status >= 500:", New: "case status < 400, status == http.StatusRequestTimeout, status >= 500 && status != http.StatusServiceUnavailable:",
		}}},
		broke: "dead-letters after a 503", check: "FLX-DLV-002/retry-after-503",
	},
	{
		Variant: variant.Variant{Name: "dead-letter-drop", Mutations: []variant.Mutation{{
			File: "federation/client.go", Old: "r := failed(Retry, \"\", \"transport: \"+err.Error())", New: "r := failed(Permanent, \"\", \"transport: \"+err.Error())",
		}}},
		broke: "dead-letters after a dropped connection", check: "FLX-DLV-002/retry-after-drop",
	},
	{
		Variant: variant.Variant{Name: "retry-422", Mutations: []variant.Mutation{{
			File: "federation/client.go", Old: "\tdefault:\n\t\tres.Outcome = Permanent\n", New: "\tdefault:\n\t\tres.Outcome = Retry\n",
		}}},
		broke: "re-sends after a 422", check: "FLX-DLV-003/no-resend-after-422",
	},
	{
		Variant: variant.Variant{Name: "case-order", Mutations: []variant.Mutation{{
			File: "node/store/outbox.go", Old: "AND p.seq < o.seq AND (p.state NOT IN ('delivered', 'cancelled')", New: "AND p.seq < o.seq AND (p.state NOT IN ('delivered', 'cancelled', 'queued')",
		}}},
		broke: "sends a later envelope of a case while an earlier one waits to be retried", check: "FLX-DLV-008/case-order",
	},
	{
		Variant: variant.Variant{Name: "replay-global", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: "return federation.ReplayKey(iss, jti)", New: "return federation.ReplayKey(\"ANY\", jti)",
		}}},
		broke: "scopes replay by jti alone", check: "FLX-DLV-011/replay-per-sender",
	},
	{
		Variant: variant.Variant{Name: "records-refused", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: "\tif err := n.checkEnvelope(ctx, env); err != nil {\n\t\treturn nil, err\n\t}\n\treturn env, nil",
			New: "\tif err := n.checkEnvelope(ctx, env); err != nil {\n\t\tif problem.As(err).Code == problem.SchemaInvalid {\n\t\t\t_, _ = n.o.Store.Receive(ctx, store.InboxItem{JTI: inboxKey(env.Issuer, env.JTI), Iss: env.Issuer, Aud: env.Audience, Kind: string(env.Kind),\n\t\t\t\tCaseID: env.CaseID, SHA256: env.SHA256(), Envelope: raw, ReceivedAt: n.o.Now()}, store.Receipt{Status: string(federation.ReceiptAccepted), Raw: raw})\n\t\t}\n\t\treturn nil, err\n\t}\n\treturn env, nil",
		}}},
		broke: "records an envelope it refused as schema_invalid", check: "FLX-DLV-013/refused-not-recorded",
	},
	{
		Variant: variant.Variant{Name: "withdraw-any-sender", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: "if h.Confirms == \"\" && origin != env.Issuer {", New: "if h.Confirms == \"\" && origin == \"\" {",
		}}},
		broke: "accepts a withdrawal request from a member that is not the origin", check: "FLX-WDR-001/non-origin",
	},
	{
		Variant: variant.Variant{Name: "confirms-confirmation", Mutations: []variant.Mutation{{
			File: "node/process.go", Old: "\tif w.IsConfirmation() {\n", New: "\tif w.IsConfirmation() && false {\n",
		}}},
		broke: "treats a confirmation as a withdrawal request and confirms it", check: "FLX-WDR-006/no-confirmation-of-confirmation",
	},
	{
		Variant: variant.Variant{Name: "no-withdraw-sent", Mutations: []variant.Mutation{{
			File: "node/withdraw.go", Old: "if r.Kind != string(federation.KindCaseWithdraw) && (r.State == store.Delivered || r.Attempts > 0) {", New: "if r.Kind == \"\" {",
		}}},
		broke: "sends no case.withdraw when a case is withdrawn", check: "FLX-WDR-007/withdraw-sent",
	},
	{
		Variant: variant.Variant{Name: "no-local-api-auth", Mutations: []variant.Mutation{{
			File: "node/httpapi/auth.go", Old: "\tif !ok || !strings.EqualFold(scheme, \"Bearer\") {\n\t\treturn node.Actor{}, \"\", false\n\t}",
			New: "\tif !ok || !strings.EqualFold(scheme, \"Bearer\") {\n\t\tif len(a.tokens) > 0 {\n\t\t\treturn node.Actor{Name: a.tokens[0].name, Role: a.tokens[0].role}, a.tokens[0].name, true\n\t\t}\n\t\treturn node.Actor{}, \"\", false\n\t}",
		}}},
		broke: "takes a request without a bearer token as the first token's", check: "FLX-OUT-001/token-required",
	},
	{
		Variant: variant.Variant{Name: "erasure-forgets", Mutations: []variant.Mutation{{
			File: "node/store/cases.go", Old: "`UPDATE inbox SET envelope = NULL WHERE case_id = ? AND envelope IS NOT NULL\n\t\tAND NOT (kind",
			New: "`UPDATE inbox SET envelope = NULL, sha256 = '' WHERE case_id = ? AND envelope IS NOT NULL\n\t\tAND NOT (kind",
		}}},
		broke: "erases the digests of an erased case's envelopes with them", check: "FLX-WDR-004/replay-survives-erasure",
	},
	{
		Variant: variant.Variant{Name: "forward-200", Mutations: []variant.Mutation{{
			File: "node/httpapi/local_cases.go", Old: "\tres, err := l.n.Forward(r.Context(), a, id, req.To)\n\tl.reply(w, r, http.StatusAccepted, res, err)",
			New: "\tres, err := l.n.Forward(r.Context(), a, id, req.To)\n\tl.reply(w, r, http.StatusOK, res, err)",
		}}},
		broke: "answers the forward call 200 instead of 202", check: "FLX-OUT-002/create-forward", req: "FLX-OUT-003",
	},
	{
		Variant: variant.Variant{Name: "withdraw-unknown-case", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: "\tif err := checkRolesOf(env, headOf(doc)); err != nil {\n\t\treturn err\n\t}\n",
			New: "\tif err := checkRolesOf(env, headOf(doc)); err != nil {\n\t\treturn err\n\t}\n\tif _, err := n.o.Store.GetCase(ctx, env.CaseID); env.Kind == federation.KindCaseWithdraw && errors.Is(err, store.ErrNotFound) {\n\t\treturn errf(federation.CodeBadEnvelope, \"no such case\")\n\t}\n",
		}}},
		broke: "refuses the withdrawal of a case it never received", check: "FLX-WDR-002/unknown-case",
	},
	{
		Variant: variant.Variant{Name: "sends-json", Mutations: []variant.Mutation{{
			File: "federation/client.go", Old: "c.post(ctx, to, url, \"application/jose\",", New: "c.post(ctx, to, url, \"application/json\",",
		}}},
		broke: "sends envelopes as application/json", check: "FLX-ENV-013/sent-envelopes",
	},
	{
		Variant: variant.Variant{Name: "local-api-on-federation", Mutations: []variant.Mutation{{
			File: "node/httpapi/federation.go", Old: "\tr.HandleFunc(\"/flx/v1/envelopes\", f.envelopes).Methods(http.MethodPost)\n",
			New: "\tr.HandleFunc(\"/flx/v1/envelopes\", f.envelopes).Methods(http.MethodPost)\n\tr.PathPrefix(\"/api/\").HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {\n\t\tw.Header().Set(\"WWW-Authenticate\", `Bearer realm=\"flx\"`)\n\t\twriteProblem(w, problem.UnauthenticatedPeer, \"bearer token required\")\n\t})\n",
		}}},
		broke: "serves the local API's routes on the federation listener", check: "FLX-OUT-006/no-local-api",
	},
	{
		Variant: variant.Variant{Name: "dead-letter-unknown-key", Mutations: []variant.Mutation{{
			File: "federation/client.go", Old: "case code == CodeUnauthenticatedPeer || code == CodeUnknownKey:", New: "case code == CodeUnauthenticatedPeer:",
		}}},
		broke: "dead-letters after 400 unknown_key", check: "FLX-DLV-002/retried-answers",
	},
	{
		Variant: variant.Variant{Name: "receipt-any-audience", Mutations: []variant.Mutation{{
			File: "federation/receipt.go", Old: "\tif w.Aud != want.Audience {", New: "\tif w.Aud == \"\" {",
		}}},
		broke: "takes a receipt addressed to another member as its own", check: "FLX-RCP-005/receipt-faults",
	},
	{
		Variant: variant.Variant{Name: "retry-409", Mutations: []variant.Mutation{{
			File: "federation/client.go", Old: "case code == CodeUnauthenticatedPeer || code == CodeUnknownKey:", New: "case code == CodeUnauthenticatedPeer || code == CodeUnknownKey || status == http.StatusConflict:",
		}}},
		broke: "retries after 409 replay", check: "FLX-DLV-003/no-resend-after-4xx",
	},
	{
		Variant: variant.Variant{Name: "ttl-plus-hour", Mutations: []variant.Mutation{{
			File: "federation/envelope.go", Old: "if w.Exp-w.Iat > int64(v.maxTTL()/time.Second) {", New: "if w.Exp-w.Iat > int64(v.maxTTL()/time.Second)+3600 {",
		}}},
		broke: "allows an hour more than MAX_TTL", check: "FLX-ENV-005/edges",
	},
	{
		Variant: variant.Variant{Name: "jti-64", Mutations: []variant.Mutation{{
			File: "federation/envelope.go", Old: "if len(s) == 0 || len(s) > 128 {", New: "if len(s) == 0 || len(s) > 64 {",
		}}},
		broke: "refuses a jti longer than 64 characters", check: "FLX-ENV-005/edges",
	},
	{
		Variant: variant.Variant{Name: "kind-before-signature", Mutations: []variant.Mutation{{
			File: "federation/envelope.go", Old: "\tkey, err := senderKey(m, u.w.Iss, tok.Header().KID, now, skew)",
			New: "\tif err := checkKind(u.w.Kind); err != nil {\n\t\treturn err\n\t}\n\tkey, err := senderKey(m, u.w.Iss, tok.Header().KID, now, skew)",
		}}},
		broke: "refuses an unknown kind before checking the signature", check: "FLX-ENV-012/signature-before-each",
	},
	{
		Variant: variant.Variant{Name: "content-type-prefix", Mutations: []variant.Mutation{{
			File: "node/httpapi/federation.go", Old: "if err != nil || !strings.EqualFold(mt, \"application/jose\") {", New: "if err != nil || !strings.HasPrefix(strings.ToLower(mt), \"application/jose\") {",
		}}},
		broke: "takes every media type starting with application/jose", check: "FLX-API-003/near-miss-media-types",
	},
	{
		Variant: variant.Variant{Name: "linear-backoff", Mutations: []variant.Mutation{{
			File: "node/backoff/backoff.go", Old: "\t\tceiling *= 2\n", New: "\t\tceiling += p.Initial\n",
		}}},
		broke: "lets its backoff grow linearly (1 s more per failure)", check: "FLX-DLV-004/backoff",
	},
	{
		Variant: variant.Variant{Name: "ignores-accepts", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: "!ok || !self.AcceptsKind(env.Kind) {", New: "!ok || self == nil {",
		}}},
		broke: "stores kinds the manifest does not list for it", check: "FLX-ENV-009/unaccepted-kind", accepts: teethAccepts,
	},
	{
		Variant: variant.Variant{Name: "metadata-all-kinds", Mutations: []variant.Mutation{{
			File: "node/httpapi/federation.go", Old: "for _, k := range self.Accepts {", New: "for _, k := range append([]string{\"case.create\", \"case.update\", \"case.response\", \"message.deliver\", \"case.withdraw\"}, string(self.Name[:0])) {",
		}}},
		broke: "advertises every kind, not those the manifest lists for it", check: "FLX-API-001/metadata", accepts: teethAccepts,
	},
	{
		Variant: variant.Variant{Name: "confirm-withdrawn-now", Mutations: []variant.Mutation{{
			File: "node/process.go", Old: "CaseID: w.CaseID, Reason: w.Reason, WithdrawnAt: w.WithdrawnAt,\n\t\tPersonIDs: w.PersonIDs,",
			New: "CaseID: w.CaseID, Reason: w.Reason, WithdrawnAt: schema.DateTime(now.UTC().Format(time.RFC3339)),",
		}}},
		broke: "confirms with its own withdrawn_at and without the person_ids", check: "FLX-WDR-005/confirmation-copies",
	},
	{
		Variant: variant.Variant{Name: "keeps-queued-updates", Mutations: []variant.Mutation{{
			File: "node/withdraw.go", Old: "store.Erasure{Reason: string(reason), At: now, KeepPendingKinds: keepOnErasure}",
			New: "store.Erasure{Reason: string(reason), At: now, KeepPendingKinds: append(keepOnErasure, string(federation.KindCaseUpdate))}",
		}}},
		broke: "keeps a queued case.update of a withdrawn case and delivers it", check: "FLX-WDR-007/queued-update-cancelled",
	},
	{
		Variant: variant.Variant{Name: "resign-every-attempt", Mutations: []variant.Mutation{{
			File: "node/envelope.go", Old: "\tif !it.OwnExpiresAt.IsZero() && it.OwnExpiresAt.After(deadline) {\n\t\treturn it, nil // the row says when its envelope expires: no parse\n\t}",
			New: "\tif it.Attempts <= 1 {\n\t\treturn it, nil\n\t}",
		}, {
			File: "node/envelope.go", Old: "\tif c.ExpiresAt.After(deadline) {\n\t\treturn it, nil\n\t}", New: "\tif it.Attempts <= 1 {\n\t\treturn it, nil\n\t}",
		}}},
		broke: "signs an envelope again (new jti) for every retry", check: "FLX-DLV-002/retry-after-503", req: "FLX-DLV-001",
	},
	{
		Variant: variant.Variant{Name: "sends-invalid-body", Mutations: []variant.Mutation{{
			File: "node/envelope.go", Old: "\t\tJTI: jti, Kind: kind, CaseID: caseID, Body: body,",
			New: "\t\tJTI: jti, Kind: kind, CaseID: caseID, Body: append(body[:len(body)-1:len(body)-1], []byte(`,\"x_debug\":true}`)...),",
		}}},
		broke: "sends bodies with a member schema v1 does not define", check: "FLX-ENV-013/sent-envelopes", req: "FLX-SCH-004",
	},
	{
		Variant: variant.Variant{Name: "signs-with-unknown-kid", Mutations: []variant.Mutation{{
			File: "federation/jose/jws.go", Old: "signedHeaders.encoded(k.alg, k.kid, typ)", New: "signedHeaders.encoded(k.alg, k.kid+\"-next\", typ)",
		}}},
		broke: "signs with a key the manifest does not list", check: "FLX-ENV-013/sent-envelopes", req: "FLX-KEY-009",
	},
	{
		Variant: variant.Variant{Name: "receipt-200", Mutations: []variant.Mutation{{
			File: "node/httpapi/federation.go", Old: "\tw.Header().Set(\"Cache-Control\", \"no-store\")\n\tw.WriteHeader(http.StatusAccepted)", New: "\tw.Header().Set(\"Cache-Control\", \"no-store\")\n\tw.WriteHeader(http.StatusOK)",
		}}},
		broke: "answers a valid envelope 200", check: "FLX-RCP-001/receipt", req: "FLX-API-002",
	},
	{
		Variant: variant.Variant{Name: "refusals-422", Mutations: []variant.Mutation{{
			File: "node/httpapi/federation.go", Old: "\te.Problem().Write(w)\n}", New: "\tp := e.Problem()\n\tp.Status = http.StatusUnprocessableEntity\n\tp.Write(w)\n}",
		}}},
		broke: "answers every refused envelope 422", check: "FLX-ERR-001/problem-documents", req: "FLX-ERR-002",
	},
	{
		Variant: variant.Variant{Name: "create-200", Mutations: []variant.Mutation{{
			File: "node/httpapi/local_cases.go", Old: "http.StatusCreated", New: "http.StatusOK",
		}}},
		broke: "answers the create call 200 instead of 201", check: "FLX-OUT-002/create-forward",
	},
	{
		Variant: variant.Variant{Name: "withdraw-200", Mutations: []variant.Mutation{{
			File: "node/httpapi/local_cases.go", Old: "\tres, err := l.n.Withdraw(r.Context(), a, id, schema.WithdrawalReason(req.Reason))\n\tl.reply(w, r, http.StatusAccepted, res, err)",
			New: "\tres, err := l.n.Withdraw(r.Context(), a, id, schema.WithdrawalReason(req.Reason))\n\tl.reply(w, r, http.StatusOK, res, err)",
		}}},
		broke: "answers the withdraw call 200 instead of 202", check: "FLX-WDR-007/withdraw-sent", req: "FLX-OUT-004",
	},
	{
		Variant: variant.Variant{Name: "batchreceipts", Mutations: []variant.Mutation{{
			File: "node/httpapi/federation.go",
			Old:  `		ans.Results[i] = federation.BatchResult{Status: http.StatusAccepted, Receipt: string(it.Receipt)}`,
			New:  `		ans.Results[i] = federation.BatchResult{Status: http.StatusAccepted, Receipt: string(items[0].Receipt)}`,
		}}},
		broke: "answers every envelope of a batch with the first envelope's receipt", check: "FLX-BAT-001/receipts",
	},
	{
		Variant: variant.Variant{Name: "batchwhole", Mutations: []variant.Mutation{{
			File: "node/receivebatch.go",
			Old: `		if err != nil {
			out[i].Err = problem.As(err)
			continue
		}`,
			New: `		if err != nil {
			return nil, problem.As(err)
		}`,
		}}},
		broke: "refuses a whole batch for one bad envelope", check: "FLX-BAT-002/each-alone",
	},
	{
		Variant: variant.Variant{Name: "batchnolimit", Mutations: []variant.Mutation{{
			File: "node/httpapi/federation.go",
			Old:  `	raws, err := federation.ParseBatchRequest(body, f.n.MaxBatchEnvelopes())`,
			New:  `	raws, err := federation.ParseBatchRequest(body, 1<<30)`,
		}}},
		broke: "has no limit on the envelopes of a batch", check: "FLX-BAT-003/limits",
	},
	{
		Variant: variant.Variant{Name: "witnessanyhead", Mutations: []variant.Mutation{{
			File: "node/audithead.go", Old: `	if h.Member != env.Issuer {`, New: `	if false && h.Member != env.Issuer {`,
		}}},
		broke: "witnesses an audit head about another member than its sender", check: "FLX-WIT-002/refused",
	},
	{
		Variant: variant.Variant{Name: "witnessnoempty", Mutations: []variant.Mutation{{
			File: "federation/audithead.go", Old: `	case h.Count == 0 && h.Head != "", h.Count > 0`, New: `	case h.Count == 0, h.Count > 0`,
		}}},
		broke: "refuses the audit head of an empty log", check: "FLX-WIT-003/witnessed",
	},
	{
		Variant: variant.Variant{Name: "relaybody", Mutations: []variant.Mutation{{
			File: "federation/relay.go",
			Old:  `	if err := decodeStrict(outer.Body, relayBodyShape, &body); err != nil {`,
			New:  `	if err := json.Unmarshal(outer.Body, &body); err != nil {`,
		}}},
		broke: "reads relay bodies loosely (unknown members pass)", check: "FLX-RLY-002/body-shape",
	},
	{
		Variant: variant.Variant{Name: "relayhopkey", Mutations: []variant.Mutation{{
			File: "federation/relay.go",
			Old:  `		from, key, err := m.VerifySigned([]byte(raw), TypHop, now, skew, &h)`,
			New: `		from, key, err := m.VerifySigned([]byte(raw), TypHop, now, skew, &h)
		if errors.Is(err, ErrUnknownKey) {
			if mb, ok := m.Member(h.Iss); ok && len(mb.JWKS) > 0 {
				from, key, err = h.Iss, mb.JWKS[0], nil
			}
		}`,
		}}},
		broke: "accepts a hop whose key is not its sender's", check: "FLX-RLY-003/hop-key",
	},
	{
		Variant: variant.Variant{Name: "relayinnerhash", Mutations: []variant.Mutation{{
			File: "federation/relay.go",
			Old:  `		case h.Inner != r.InnerSHA256:`,
			New:  `		case false && h.Inner != r.InnerSHA256:`,
		}}},
		broke: "does not check that hops bind the inner envelope", check: "FLX-RLY-004/broken-chain",
	},
	{
		Variant: variant.Variant{Name: "relayinnercheck", Mutations: []variant.Mutation{{
			File: "node/relay.go",
			Old: `		if err := n.checkEnvelope(withRelayedMediaChecked(ctx), r.Envelope); err != nil {
			return nil, err
		}
		return &relayIn{r: r, inner: true}, nil`,
			New: `		return &relayIn{r: r, inner: true}, nil`,
		}}},
		broke: "stores a relayed inner envelope without the checks of its origin (kind, schema, sender's role)", check: "FLX-RLY-005/inner-verified",
	},
	{
		Variant: variant.Variant{Name: "relayanyone", Mutations: []variant.Mutation{{
			File: "federation/relay.go",
			Old:  `		if !m.MayRelay(v.Self) {`,
			New:  `		if false {`,
		}}},
		broke: "relays although it may not", check: "FLX-RLY-006/not-a-relay",
	},
	{
		Variant: variant.Variant{Name: "relaynoe2e", Mutations: []variant.Mutation{{
			File: "node/relay.go",
			Old:  `		if err := n.enqueueReceipt(ctx, tx, env.Issuer, env.CaseID, back); err != nil {`,
			New:  `		if err := func() error { _ = back; return nil }(); err != nil {`,
		}}},
		broke: "never sends the end-to-end receipt of a relayed envelope", check: "FLX-RLY-008/end-to-end-receipt",
	},
	{
		Variant: variant.Variant{Name: "pullparams", Mutations: []variant.Mutation{{
			File: "federation/pull/handler.go",
			Old:  `			return 0, 0, fmt.Errorf("unknown query parameter %q", name)`,
			New:  `			continue`,
		}}},
		broke: "ignores unknown pull parameters", check: "FLX-PUL-002/query",
	},
	{
		Variant: variant.Variant{Name: "noanswer", Mutations: []variant.Mutation{{
			File: "node/process.go", Old: `		return n.answerQuery(ctx, tx, it, claims)`, New: `		return nil, nil, nil`,
		}}},
		broke: "never answers a match query", check: "FLX-MAT-001/query-answered",
	},
	{
		Variant: variant.Variant{Name: "querynames", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: "\tdoc, err := schema.ValidateObject(docKind, env.Body)\n",
			New: "\tdoc, err := schema.ValidateObject(docKind, env.Body)\n\tif err != nil && docKind == schema.KindMatchQuery {\n\t\terr = json.Unmarshal(env.Body, &doc)\n\t}\n",
		}}},
		broke: "takes match queries carrying more than the encoding", check: "FLX-MAT-003/no-names",
	},
	{
		Variant: variant.Variant{Name: "queryorigin", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: `		if origin != env.Issuer {
			return errf(federation.CodeSenderMismatch, "only the origin of case %q may ask about its persons", env.CaseID)`,
			New: `		if origin == "" {
			return errf(federation.CodeSenderMismatch, "only the origin of case %q may ask about its persons", env.CaseID)`,
		}}},
		broke: "answers match queries about other members' cases", check: "FLX-MAT-004/sender-role",
	},
	{
		Variant: variant.Variant{Name: "queryexpired", Mutations: []variant.Mutation{{
			File: "node/matchquery.go", Old: `	_, err := pprl.Parse(encodingBytes(env.Body), n.o.Now())`,
			New: `	_, err := pprl.Parse(encodingBytes(env.Body), n.o.Now().AddDate(-10, 0, 0))`,
		}}},
		broke: "takes match queries whose encoding expired", check: "FLX-MAT-005/expired-encoding",
	},
	{
		Variant: variant.Variant{Name: "queryunlimited", Mutations: []variant.Mutation{{
			File: "node/querylimit.go", Old: `	if env.Kind != federation.KindMatchQuery || n.queryLimit == nil {`,
			New: `	if true {`,
		}}},
		broke: "takes any number of match queries from a member", check: "FLX-MAT-007/rate-limit",
	},
	// coord15: acknowledgements of pulled envelopes (FLX-PUL-006, FLX-PUL-007).
	{
		Variant: variant.Variant{Name: "pullackitems", Mutations: []variant.Mutation{{
			File: "federation/pull/handler.go",
			Old:  `	if len(a.Receipts)+len(a.Refusals) > MaxAckItems {`,
			New:  `	if len(a.Receipts)+len(a.Refusals) > 10*MaxAckItems {`,
		}}},
		broke: "takes acknowledgements of more than 1000 items", check: "FLX-PUL-007/ack-limits",
	},
	{
		Variant: variant.Variant{Name: "pullackretried", Mutations: []variant.Mutation{{
			File: "federation/pull/handler.go",
			Old:  `	if rf.Code.Retryable() || rf.JTI == "" {`,
			New:  `	if rf.JTI == "" {`,
		}}},
		broke: "takes a puller's refusal with a code that is retried", check: "FLX-PUL-006/ack-verified",
	},
	// issue 12 (teeth12): edges and faults not broken before.
	{
		Variant: variant.Variant{Name: "retryafterdate", Mutations: []variant.Mutation{{
			File: "federation/client.go",
			Old:  `	if t, err := http.ParseTime(h); err == nil && t.After(now) {`,
			New:  `	if t, err := http.ParseTime(h); false && err == nil && t.After(now) {`,
		}}},
		broke: "reads Retry-After only as delta-seconds (an HTTP-date is ignored)", check: "FLX-DLV-006/retry-after-date",
	},
	{
		Variant: variant.Variant{Name: "serveranymember", Mutations: []variant.Mutation{{
			File: "federation/mtls/config.go",
			Old:  `			if member != expectMember {`,
			New:  `			if false && member != expectMember {`,
		}}},
		broke: "delivers to a server whose certificate is pinned for another member", check: "FLX-TLS-005/server-of-another-member",
	},
	{
		Variant: variant.Variant{Name: "servertls12", Mutations: []variant.Mutation{{
			File: "federation/mtls/config.go",
			Old: `	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Always offer`,
			New: `	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Always offer`,
		}}},
		broke: "dials peers with TLS 1.2 allowed", check: "FLX-TLS-005/server-tls12",
	},
	{
		Variant: variant.Variant{Name: "nopropagate", Mutations: []variant.Mutation{{
			File: "node/propagate.go",
			Old: `	members, err := versionHolders(ctx, tx, caseID)
	if err != nil {`,
			New: `	members, err := versionHolders(ctx, tx, caseID)
	members = nil
	if err != nil {`,
		}}},
		broke: "sends a new version only where a caseworker forwards it again", check: "FLX-COR-001/update-reaches-copy",
	},
	{
		Variant: variant.Variant{Name: "noerasetold", Mutations: []variant.Mutation{{
			File: "node/propagate.go",
			Old:  `	reason := schema.WithdrawalReason("erasure_request")`,
			New: `	if true {
		return "denied", nil
	}
	reason := schema.WithdrawalReason("erasure_request")`,
		}}},
		broke: "leaves the earlier version with a member the new version is refused to", check: "FLX-COR-002/refused-version-withdraws",
	},
	// issue 12 (teeth12b): requirements no check covered before.
	{
		Variant: variant.Variant{Name: "rewithdrawerased", Mutations: []variant.Mutation{{
			File: "node/withdraw.go",
			Old: `		res.Again = c.Erased()
		var versions int64`,
			New: `		res.Again = c.Erased()
		if res.Again {
			return errf(CodeErased, "case %s was erased", caseID)
		}
		var versions int64`,
		}}},
		broke: "refuses to withdraw a withdrawn case again (erased)", check: "FLX-WDR-008/rewithdraw",
	},
	{
		Variant: variant.Variant{Name: "rewithdrawnobody", Mutations: []variant.Mutation{{
			File: "node/withdraw.go",
			Old:  `			if members, err = unconfirmed(ctx, tx, caseID, members); err != nil {`,
			New:  `			if members, err = unconfirmed(ctx, tx, caseID, nil); err != nil {`,
		}}},
		broke: "answers a second withdrawal 202 but sends it to no one", check: "FLX-WDR-008/rewithdraw",
	},
	{
		Variant: variant.Variant{Name: "slowbodybad", Mutations: []variant.Mutation{{
			File: "node/httpapi/federation.go",
			Old:  `		return nil, problem.New(problem.RequestTimeout, "the body was not received in time or broke off; send it again")`,
			New:  `		return nil, problem.New(problem.BadEnvelope, "the body was not received in time or broke off; send it again")`,
		}}},
		broke: "answers a body that stopped arriving with bad_envelope (not retried) instead of request_timeout", check: "FLX-BAT-006/slow-body",
	},
	{
		Variant: variant.Variant{Name: "deliversuspended", Mutations: []variant.Mutation{{
			File: "policy/builtin.go", Old: `	case !d.Active:`, New: `	case false && !d.Active:`,
		}, {
			File: "federation/client.go", Old: `	if mb.Status != StatusActive {`, New: `	if false && mb.Status != StatusActive {`,
		}, {
			File: "federation/manifest.go", Old: `	if !ok || mb.Status != StatusActive {`, New: `	if !ok {`,
		}, {
			File: "federation/coordination.go", Old: `	if d.Status != StatusActive {`, New: `	if false && d.Status != StatusActive {`,
		}}},
		broke: "forwards to, connects to and delivers to a member the manifest suspends", check: "FLX-MAN-007/not-deliverable",
	},
	{
		Variant: variant.Variant{Name: "deliverunaccepted", Mutations: []variant.Mutation{{
			File: "policy/builtin.go", Old: `	case !contains(d.Accepts, s.kind):`, New: `	case false && !contains(d.Accepts, s.kind):`,
		}}},
		broke: "delivers a case.create to a member whose accepts leave it out", check: "FLX-MAN-007/not-deliverable",
	},
	// issue 12 (teeth12c): manifest mode, FLX-TLS-004 and FLX-MAN-001..006.
	{
		Variant: variant.Variant{Name: "resumeunchecked", Mutations: []variant.Mutation{{
			File: "federation/mtls/config.go",
			Old:  `			if _, err := VerifyPeer(dir, cs.PeerCertificates, x509.ExtKeyUsageClientAuth, o.now()); err != nil {`,
			New: `			if cs.DidResume {
				return nil
			}
			if _, err := VerifyPeer(dir, cs.PeerCertificates, x509.ExtKeyUsageClientAuth, o.now()); err != nil {`,
		}}},
		broke: "skips the handshake checks on a resumed TLS session", check: "FLX-TLS-004/resumed-after-suspension",
	},
	{
		Variant: variant.Variant{Name: "manifestunsigned", Mutations: []variant.Mutation{{
			File: "federation/manifest.go", Old: `	payload, err := tok.Verify(anchorPub)`, New: `	payload, err := tok.UnverifiedPayload(), error(nil)`,
		}}},
		broke: "adopts a manifest without verifying the trust anchor's signature", check: "FLX-MAN-001/anchor-signature",
	},
	{
		Variant: variant.Variant{Name: "manifestotherfederation", Mutations: []variant.Mutation{{
			File: "federation/manifest.go", Old: `		if m.Federation != held.Federation {`, New: `		if false && m.Federation != held.Federation {`,
		}}},
		broke: "adopts a manifest of another federation", check: "FLX-MAN-002/content-rules",
	},
	{
		Variant: variant.Variant{Name: "manifestskewwide", Mutations: []variant.Mutation{{
			File: "federation/manifest.go", Old: `	if m.IssuedAt.After(now.Add(skew)) {`, New: `	if m.IssuedAt.After(now.Add(skew + 30*time.Second)) {`,
		}}},
		broke: "adopts a manifest issued up to SKEW + 30 s ahead", check: "FLX-MAN-003/times",
	},
	{
		Variant: variant.Variant{Name: "manifestrollbackone", Mutations: []variant.Mutation{{
			File: "federation/manifest.go", Old: `		if m.Version < held.Version {`, New: `		if m.Version < held.Version-1 {`,
		}}},
		broke: "adopts a manifest one version below the held one", check: "FLX-MAN-004/rollback",
	},
	{
		Variant: variant.Variant{Name: "manifestdropped", Mutations: []variant.Mutation{{
			File: "node/trust/trust.go",
			Old: `	raw, err := t.fetch(ctx)
	if err != nil {
		return false, err
	}`,
			New: `	raw, err := t.fetch(ctx)
	if err != nil {
		t.holder = federation.NewManifestHolder(t.opts.Anchor, nil)
		return false, err
	}`,
		}}},
		broke: "drops its manifest when the manifest source cannot be read", check: "FLX-MAN-005/kept-when-refused",
	},
	{
		Variant: variant.Variant{Name: "manifestexpiredused", Mutations: []variant.Mutation{{
			File: "node/trust/trust.go", Old: `	if m.ExpiredAt(t.opts.Now(), t.opts.Skew) {`, New: `	if false && m.ExpiredAt(t.opts.Now(), t.opts.Skew) {`,
		}, {
			File: "federation/envelope.go", Old: `	if m.ExpiredAt(now, skew) {`, New: `	if false && m.ExpiredAt(now, skew) {`,
		}}},
		broke: "goes on accepting envelopes with an expired manifest (node and verifier)", check: "FLX-MAN-006/expired-held",
	},
	{
		Variant: variant.Variant{Name: "manifestexpiredtrusted", Mutations: []variant.Mutation{{
			File: "node/trust/trust.go", Old: `	if m == nil || d.t.Usable() != nil {`, New: `	if m == nil {`,
		}, {
			File: "federation/client.go", Old: `	if !c.now().Before(m.ExpiresAt) {`, New: `	if false && !c.now().Before(m.ExpiresAt) {`,
		}}},
		broke: "goes on sending with an expired manifest (client and TLS trust)", check: "FLX-MAN-006/expired-sends-nothing",
	},
	{
		Variant: variant.Variant{Name: "peercached", Mutations: []variant.Mutation{{
			File: "federation/mtls/middleware.go",
			Old: `	o := buildOptions(opts)
	return func(next http.Handler) http.Handler {`,
			New: `	o := buildOptions(opts)
	seen := map[string]string{}
	return func(next http.Handler) http.Handler {`,
		}, {
			File: "federation/mtls/middleware.go",
			Old:  `			member, err := resolve(d, r.TLS.PeerCertificates[0], o.now())`,
			New: `			member, err := resolve(d, r.TLS.PeerCertificates[0], o.now())
			if m, ok := seen[string(r.TLS.PeerCertificates[0].Raw)]; ok {
				member, err = m, nil
			} else if err == nil {
				seen[string(r.TLS.PeerCertificates[0].Raw)] = member
			}`,
		}}},
		broke: "keeps the member a certificate authenticated once instead of checking it on every request", check: "FLX-TLS-004/resumed-after-suspension",
		req: "FLX-ID-005",
	},
	// issue 12 (teeth12d): an attempt the peer never answers, batches sent
	// and answered, the audit head sent to a witness.
	{
		Variant: variant.Variant{Name: "notimeout", Mutations: []variant.Mutation{{
			File: "federation/client.go",
			Old: `	if c.Timeout > 0 {
		return c.Timeout
	}
	return 30 * time.Second`,
			New: `	return 10 * time.Minute`,
		}}},
		broke: "waits 10 minutes on a peer that never answers, whatever its configured request timeout", check: "FLX-DLV-007/hung-attempt",
	},
	{
		Variant: variant.Variant{Name: "batchreceiptshift", Mutations: []variant.Mutation{{
			File: "federation/batch.go",
			Old:  `		want := ExpectReceipt(envelopes[i], claims[i])`,
			New:  `		want := ExpectReceipt(envelopes[(i+1)%len(envelopes)], claims[(i+1)%len(envelopes)])`,
		}}},
		broke: "checks each receipt of a batch answer against the next envelope, not the one it answers", check: "FLX-BAT-005/each-answer",
	},
	{
		Variant: variant.Variant{Name: "batchwholedead", Mutations: []variant.Mutation{{
			File: "federation/batch.go",
			Old: `			c.setBatchesOff(to)
		}
		for _, i := range idx {
			out[i] = c.Send(ctx, to, envelopes[i])
		}`,
			New: `			c.setBatchesOff(to)
		}
		if true {
			return all(r)
		}
		for _, i := range idx {
			out[i] = c.Send(ctx, to, envelopes[i])
		}`,
		}}},
		broke: "dead-letters every envelope of a batch refused as a whole (413) instead of sending each alone", check: "FLX-BAT-005/each-answer",
	},
	{
		Variant: variant.Variant{Name: "batchstorelater", Mutations: []variant.Mutation{{
			File: "node/receivebatch.go",
			Old:  "\t\terr := storeBatch(ctx, true)",
			New: `		var err error
		go func() {
			time.Sleep(2 * time.Second)
			_ = storeBatch(context.WithoutCancel(ctx), true)
		}()`,
		}}},
		broke: "answers a batch with receipts, then stores its envelopes in the background", check: "FLX-BAT-004/stored-before-answer",
	},
	{
		Variant: variant.Variant{Name: "witnessignored", Mutations: []variant.Mutation{{
			File: "node/audithead.go", Old: `		if len(n.o.AuditHead.Witnesses) > 0 {`, New: `		if false && len(n.o.AuditHead.Witnesses) > 0 {`,
		}}},
		broke: "sends its audit head only to coordinators, never to the witness it names", check: "FLX-WIT-001/head-sent", accepts: teethAccepts,
	},
	{
		Variant: variant.Variant{Name: "supersedehash", Mutations: []variant.Mutation{{
			File: "node/store/cases.go",
			Old:  "UPDATE inbox SET envelope = NULL WHERE case_id = ? AND id < ?",
			New:  "UPDATE inbox SET envelope = NULL, sha256 = '' WHERE case_id = ? AND id < ?",
		}}},
		broke: "drops the hash of a superseded version's envelope with its bytes", check: "FLX-COR-003/superseded-hashes-kept",
	},
	{
		Variant: variant.Variant{Name: "matchquerynopolicy", Mutations: []variant.Mutation{{
			File: "node/matchquery.go",
			Old:  `	d.Kind = string(kind)`,
			New: `	d.Kind = string(kind)
	d.Effect, d.Redactions = policy.Allow, nil`,
		}}},
		broke: "sends a match query about a person of a case its policy would not forward to that member", check: "FLX-MAT-006/only-when-allowed",
	},
	// issue 15 (coord15c): the tester as relay, as a pull-only member, and
	// a coordinator candidate.
	{
		Variant: variant.Variant{Name: "relayanyfirsthop", Mutations: []variant.Mutation{{
			File: "federation/relay.go", Old: `	case in.iss != r.Hops[0].From:`, New: `	case false && in.iss != r.Hops[0].From:`,
		}}},
		broke: "takes a chain whose relay dropped the origin's hop (the first hop is not by the inner token's signer)", check: "FLX-RLY-004/tester-relay",
	},
	{
		Variant: variant.Variant{Name: "receiptdirect", Mutations: []variant.Mutation{{
			File: "node/relay.go",
			Old: `		next := route.Via
		if next == "" {`,
			New: `		next := route.Via
		if tok.Receipt {
			next = ""
		}
		if next == "" {`,
		}}},
		broke: "sends end-to-end receipts straight to the origin, past the relay its relay_via names", check: "FLX-RLY-001/receipt-via-relay",
	},
	{
		Variant: variant.Variant{Name: "confirmdirect", Mutations: []variant.Mutation{{
			File: "node/relay.go",
			Old:  `	case !relayed && !tok.Receipt && route.Via == "":`,
			New:  `	case !relayed && !tok.Receipt && (route.Via == "" || tok.Kind == federation.KindCaseWithdraw):`,
		}}},
		broke: "sends withdrawals and confirmations straight to the member, past the relay its relay_via names", check: "FLX-RLY-010/confirmation-via-relay",
	},
	{
		Variant: variant.Variant{Name: "ignorerelayvia", Mutations: []variant.Mutation{{
			File: "federation/coordination.go", Old: `	if len(d.RelayVia) > 0 && !slices.Contains(d.RelayVia, self) {`, New: `	if false && len(d.RelayVia) > 0 && !slices.Contains(d.RelayVia, self) {`,
		}}},
		broke: "dials a member whose relay_via names a relay instead of sending through it", check: "FLX-RLY-001/via-relay",
	},
	{
		Variant: variant.Variant{Name: "relayreceiptdelivers", Mutations: []variant.Mutation{{
			File: "node/relay.go", Old: `		if to, ok := o.sender.awaiting.LoadAndDelete(outerJTI); ok {`, New: `		if to, ok := o.sender.awaiting.LoadAndDelete(outerJTI); ok && false {`,
		}}},
		broke: "counts an envelope sent through a relay as delivered on the relay's receipt", check: "FLX-RLY-009/end-to-end-only",
	},
	{
		Variant: variant.Variant{Name: "e2ereceiptunverified", Mutations: []variant.Mutation{{
			File: "node/relay.go",
			Old: `	}, n.o.Now()); err != nil {
		return fmt.Errorf("end-to-end receipt does not match what was sent: %w", err), nil`,
			New: `	}, n.o.Now()); err != nil && false {
		return fmt.Errorf("end-to-end receipt does not match what was sent: %w", err), nil`,
		}}},
		broke: "counts an envelope as delivered on an end-to-end receipt bound to other bytes", check: "FLX-RLY-009/end-to-end-only",
	},
	{
		Variant: variant.Variant{Name: "dialpullonly", Mutations: []variant.Mutation{{
			File: "node/relay.go", Old: `		if r, err := o.n.route(d); err == nil && r.Pull {`, New: `		if r, err := o.n.route(d); err == nil && r.Pull && false {`,
		}, {
			File: "node/relay.go", Old: `	case route.Pull:`, New: `	case route.Pull && false:`,
		}}},
		broke: "dials a member the manifest declares pull_only", check: "FLX-PUL-001/pull-only",
	},
	{
		Variant: variant.Variant{Name: "pullnolease", Mutations: []variant.Mutation{{
			File: "node/pull.go", Old: `Destination: member, Lease: until.Sub(now),`, New: `Destination: member, Lease: time.Nanosecond,`,
		}}},
		broke: "offers a pulled envelope to the next pull before its lease_until", check: "FLX-PUL-003/lease",
	},
	{
		// The candidate runs on the embedded SQLite store, whose claims
		// keep per-case order in Go (PostgreSQL's in its claim function).
		Variant: variant.Variant{Name: "pullorder", Mutations: []variant.Mutation{{
			File: "node/store/outbox.go",
			Old:  "\tw.addCaseHead(tv(now))\n\treturn",
			New:  "\tif !strings.HasPrefix(r.Worker, \"pull/\") {\n\t\tw.addCaseHead(tv(now))\n\t}\n\treturn",
		}}},
		broke: "lets a pull take a later envelope of a case while an earlier one is leased", check: "FLX-PUL-004/order",
	},
	{
		Variant: variant.Variant{Name: "relaynopolicy", Mutations: []variant.Mutation{{
			File: "node/relay.go", Old: `	if dec.Effect == policy.Deny {`, New: `	if dec.Effect == policy.Deny && false {`,
		}}},
		broke: "relays a case its own data-protection policy denies", check: "FLX-RLY-007/relays", role: "coordinator",
	},
	{
		Variant: variant.Variant{Name: "relayrefuseswithdrawal", Mutations: []variant.Mutation{{
			File: "node/relay.go",
			Old: `	env := r.Envelope
	d, _ := m.Member(dest)`,
			New: `	env := r.Envelope
	if env.Kind == federation.KindCaseWithdraw {
		return nil, errf(federation.CodeRelayRefused, "this relay does not carry withdrawals")
	}
	d, _ := m.Member(dest)`,
		}}},
		broke: "refuses to relay a withdrawal", check: "FLX-RLY-010/withdrawal-relayed", role: "coordinator",
	},
	{
		Variant: variant.Variant{Name: "statsunprotected", Mutations: []variant.Mutation{{
			File: "node/stats/report.go", Old: `		if v != nil && *v != 0 && (*v%prot.Rounding != 0 ||`, New: `		if false && v != nil && *v != 0 && (*v%prot.Rounding != 0 ||`,
		}}},
		broke: "takes statistics reports with counts the stated protection never publishes", check: "FLX-STA-004/refused", role: "coordinator",
	},
	{
		Variant: variant.Variant{Name: "statshiddenadded", Mutations: []variant.Mutation{{
			File: "node/stats/aggregate.go",
			Old: `				c.Suppressed++
				c.MaxHidden += r.Threshold - 1`,
			New: `				c.Sum += r.Threshold - 1`,
		}}},
		broke: "adds suppressed counts into its aggregates as k-1 and says none was suppressed", check: "FLX-STA-003/aggregates", role: "coordinator",
	},
	{
		Variant: variant.Variant{Name: "bundlelonglived", Mutations: []variant.Mutation{{
			File: "federation/bundle/bundle.go", Old: `		ttl = DefaultTTL`, New: `		ttl = MaxTTL + 24*time.Hour`,
		}}},
		broke: "exports bundles that live longer than 90 days", check: "FLX-BDL-001/export",
	},
	{
		Variant: variant.Variant{Name: "bundleanyaud", Mutations: []variant.Mutation{{
			File: "federation/bundle/bundle.go", Old: `	if w.Aud != o.Self {`, New: `	if false && w.Aud != o.Self {`,
		}}},
		broke: "imports a bundle addressed to another member once it decrypts", check: "FLX-BDL-003/refused",
	},
	{
		Variant: variant.Variant{Name: "bundleanysigner", Mutations: []variant.Mutation{{
			File: "federation/bundle/bundle.go",
			Old:  `	envs, errs, err := v.VerifyBatch(ctx, raws, from)`,
			New:  `	envs, errs, err := v.VerifyBatch(ctx, raws, "")`,
		}}},
		broke: "imports an envelope of a bundle signed by another member than the exporter", check: "FLX-BDL-004/each-envelope",
	},
	{
		Variant: variant.Variant{Name: "bundlereprocess", Mutations: []variant.Mutation{{
			File: "node/bundle.go",
			Old:  `	return n.keep(ctx, env, raw, nil)`,
			New: `	env.JTI += "." + federation.NewJTI()
	return n.keep(ctx, env, raw, nil)`,
		}}},
		broke: "keys imported envelopes by import, not by (iss, jti): a bundle imported again is processed again", check: "FLX-BDL-005/reimport",
	},
	{
		Variant: variant.Variant{Name: "bundlereceiptunverified", Mutations: []variant.Mutation{{
			File: "node/bundle.go",
			Old: `		n.log.Warn("bundle receipt refused", "from", op.From, "outbox_id", r.ID, "code", federation.CodeOf(err))
		return false, nil`,
			New: `		n.log.Warn("bundle receipt refused", "from", op.From, "outbox_id", r.ID, "code", federation.CodeOf(err))`,
		}}},
		broke: "counts an exported envelope as delivered on a carried receipt that does not verify", check: "FLX-BDL-006/receipts-back",
	},
	{
		Variant: variant.Variant{Name: "pullerackretried", Mutations: []variant.Mutation{{
			File: "federation/pull/client.go", Old: `			case code != "" && !code.Retryable():`, New: `			case code != "":`,
		}}},
		broke: "acknowledges a pulled envelope it refused with a code that is retried, so it is never offered again", check: "FLX-PUL-005/puller", role: rolePullOnly,
	},
	{
		Variant: variant.Variant{Name: "pullernorefusal", Mutations: []variant.Mutation{{
			File: "federation/pull/client.go", Old: `			case code != "" && !code.Retryable():`, New: `			case false && code != "" && !code.Retryable():`,
		}}},
		broke: "never acknowledges a pulled envelope it refused for good, so it is offered again forever", check: "FLX-PUL-005/puller", role: rolePullOnly,
	},
	{
		Variant: variant.Variant{Name: "statssmallpublished", Mutations: []variant.Mutation{{
			File: "node/stats/report.go",
			Old: `	case n < p.Threshold:
		return nil`,
			New: `	case n < 0:
		return nil`,
		}}},
		broke: "publishes counts below the threshold, rounded, instead of suppressing them", check: "FLX-STA-002/protected",
	},
	{
		Variant: variant.Variant{Name: "statsrevisionkept", Mutations: []variant.Mutation{{
			File: "node/statsreport.go", Old: `				rev = last.Revision + 1`, New: `				rev = last.Revision`,
		}}},
		broke: "sends a changed report of a month under the revision it replaces", check: "FLX-STA-002/protected", req: "FLX-STA-001",
	},
	{
		Variant: variant.Variant{Name: "statsunsettled", Mutations: []variant.Mutation{{
			File: "node/stats/compute.go", Old: `	for p := first; !p.End().Add(settle).After(now); p = p.Next() {`, New: `	for p := first; !p.Start().After(now); p = p.Next() {`,
		}}},
		broke: "reports the month that has not ended", check: "FLX-STA-002/protected", req: "FLX-STA-001",
	},
	// Issue 12, last round (teeth12): one variant per requirement that had
	// no check or no variant, and for the checks strengthened.
	{
		Variant: variant.Variant{Name: "mediauri", Mutations: []variant.Mutation{{
			File: "schema/validate.go", Old: `		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))`,
			New: `		data = bytes.Replace(data, []byte("\"pattern\": \"^https://"), []byte("\"$comment\": \"^https://"), 1)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))`,
		}}},
		broke: "takes any absolute URI as a media reference's uri (file:, http:, user information)", check: "FLX-MED-002/uri-refused",
	},
	{
		Variant: variant.Variant{Name: "forgetatexp", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: `		CaseID: env.CaseID, SHA256: env.SHA256(), Envelope: raw, ReceivedAt: n.o.Now(),
	}`,
			New: `		CaseID: env.CaseID, SHA256: env.SHA256(), Envelope: raw, ReceivedAt: n.o.Now(),
	}
	if n.o.Now().After(env.ExpiresAt) {
		item.JTI += "#past-exp"
	}`,
		}, {
			// A lone case.create is stored as a batch of one (storeAdmitted).
			File: "node/receivebatch.go", Old: `			CaseID: env.CaseID, SHA256: env.SHA256(), Envelope: raw, ReceivedAt: n.o.Now(),
		}}
`,
			New: `			CaseID: env.CaseID, SHA256: env.SHA256(), Envelope: raw, ReceivedAt: n.o.Now(),
		}}
		if n.o.Now().After(env.ExpiresAt) {
			a.item.JTI += "#past-exp"
		}
`,
		}}},
		broke: "forgets a replay record once the envelope's exp passed, though SKEW still lets it in", check: "FLX-DLV-012/past-exp",
	},
	{
		Variant: variant.Variant{Name: "lateattempt", Mutations: []variant.Mutation{{
			File: "node/envelope.go", Old: `		Discloses: discloses, Withdraws: withdraws,`,
			New: `		Discloses: discloses, Withdraws: withdraws, NotBefore: now.Add(65 * time.Second),`,
		}}},
		broke: "makes the first delivery attempt 65 s after the trigger call", check: "FLX-OUT-002/create-forward", req: "FLX-OUT-005",
	},
	{
		Variant: variant.Variant{Name: "noheadertimeout", Mutations: []variant.Mutation{{
			File: "node/cmd/flx/serve.go", Old: `ReadHeaderTimeout: cfg.Federation.HeaderTimeout, ReadTimeout: cfg.Federation.ReadTimeout + 10*time.Second,`,
			New: `ReadHeaderTimeout: 0, ReadTimeout: 0,`,
		}}},
		broke: "waits for a request's headers without limit on the federation listener", check: "FLX-LIM-004/slow-headers",
	},
	{
		Variant: variant.Variant{Name: "keyexposed", Mutations: []variant.Mutation{{
			File: "node/cmd/flx/serve.go", Old: `		Handler:   httpapi.FederationHandler(n, tr.Directory(), log, httpapi.WithReadTimeout(cfg.Federation.ReadTimeout)),`,
			New: `		Handler: func() http.Handler {
			h := httpapi.FederationHandler(n, tr.Directory(), log, httpapi.WithReadTimeout(cfg.Federation.ReadTimeout))
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if b, err := os.ReadFile(cfg.Federation.SigningKey); err == nil && r.URL.Path == "/.well-known/flx" {
					w.Header().Set("X-Flx-Signing-Key", strings.Join(strings.Fields(string(b)), ""))
				}
				h.ServeHTTP(w, r)
			})
		}(),`,
			Imports: []string{"strings"},
		}}},
		broke: "shows its signing key (a debugging header) on the federation listener", check: "FLX-KEY-010/not-exposed",
	},
	{
		Variant: variant.Variant{Name: "pullignoresmore", Mutations: []variant.Mutation{{
			File: "federation/pull/client.go", Old: `		if !b.More {`, New: `		if true || !b.More {`,
		}}},
		broke: "waits its pull interval before pulling again though the answer said more", check: "FLX-PUL-008/pulls-again", role: rolePullOnly,
	},
	{
		Variant: variant.Variant{Name: "batch415deadletter", Mutations: []variant.Mutation{{
			File: "federation/batch.go", Old: `		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed || status == http.StatusUnsupportedMediaType {
			c.setBatchesOff(to)
		}`,
			New: `		if status == http.StatusUnsupportedMediaType {
			return all(r)
		}
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed || status == http.StatusUnsupportedMediaType {
			c.setBatchesOff(to)
		}`,
		}}},
		broke: "dead-letters every envelope of a batch answered 415 as a whole instead of sending each alone", check: "FLX-BAT-005/each-answer",
	},
	{
		Variant: variant.Variant{Name: "erasurekeepsreplies", Mutations: []variant.Mutation{{
			File: "node/process.go", Old: `	res, err := tx.EraseCase(ctx, w.CaseID, store.Erasure{Reason: string(w.Reason), At: now, KeepPendingKinds: keepOnErasure, Origin: it.Iss})`,
			New: `	res, err := tx.EraseCase(ctx, w.CaseID, store.Erasure{Reason: string(w.Reason), At: now, KeepPendingKinds: append([]string{string(federation.KindMatchAnswer), string(federation.KindCaseResponse), string(federation.KindMessageDeliver)}, keepOnErasure...), Origin: it.Iss})`,
		}}},
		broke: "keeps delivering its queued replies about a case the origin withdrew", check: "FLX-WDR-003/outbound-cancelled",
	},
	{
		Variant: variant.Variant{Name: "queryunrecorded", Mutations: []variant.Mutation{{
			File: "node/withdraw.go", Old: `			if r.Kind != string(federation.KindCaseWithdraw) && (r.State == store.Delivered || r.Attempts > 0) {`,
			New: `			if r.Kind != string(federation.KindCaseWithdraw) && r.Kind != string(federation.KindMatchQuery) && (r.State == store.Delivered || r.Attempts > 0) {`,
		}}},
		broke: "does not count a member it sent a match.query to among the case's holders, so the case's withdrawal never reaches it", check: "FLX-MAT-006/only-when-allowed",
	},
	{
		Variant: variant.Variant{Name: "headsentonce", Mutations: []variant.Mutation{{
			File: "node/audithead.go", Old: `		if last != nil && last.Count == v.Rows && last.Head == v.Head {`, New: `		if last != nil {`,
		}}},
		broke: "sends its audit head to a witness once, and never again when it changed", check: "FLX-WIT-001/head-resent", accepts: teethAccepts,
	},
	{
		Variant: variant.Variant{Name: "statscountsreceived", Mutations: []variant.Mutation{
			{File: "node/statsreport.go", Old: `	f := store.CaseFilter{Origin: in.n.o.Self, Limit: 500}`, New: `	f := store.CaseFilter{Limit: 500}`},
			{File: "node/stats/compute.go", Old: `		if len(versions) == 0 || versions[0].Origin.Member != member {`, New: `		if len(versions) == 0 {`},
		}},
		broke: "counts the tracing requests it received beside those it originated", check: "FLX-STA-005/own-cases-only",
	},
	// coord15: statistics reports through relays (FLX-STA-006) and the
	// code for a suspended final recipient (FLX-RLY-011).
	{
		Variant: variant.Variant{Name: "relaystatsrefused", Mutations: []variant.Mutation{{
			File: "node/relay.go", Old: `		return nil, n.relayStatsPolicy(env, d)`, New: `		return nil, errf(federation.CodeRelayRefused, "%s is not relayed", env.Kind)`,
		}}},
		broke: "refuses to relay any statistics report", check: "FLX-STA-006/relayed", role: "coordinator",
	},
	{
		Variant: variant.Variant{Name: "relaystatsunchecked", Mutations: []variant.Mutation{{
			File: "node/relay.go", Old: `	if err := n.checkStatsReport(env); err != nil {`, New: `	if err := n.checkStatsReport(env); err != nil && false {`,
		}}},
		broke: "relays statistics reports the coordinator would refuse (a count below the threshold, another member's)", check: "FLX-STA-006/relayed", role: "coordinator",
	},
	{
		Variant: variant.Variant{Name: "relaysuspendedcode", Mutations: []variant.Mutation{{
			File: "federation/relay.go",
			Old:  `			return nil, newErr(CodeRelayRefused, fmt.Sprintf("the final recipient %q is suspended: no route", in.aud), nil)`,
			New:  `			return nil, newErr(CodeSuspendedMember, fmt.Sprintf("the final recipient %q is suspended: no route", in.aud), nil)`,
		}}},
		broke: "answers suspended_member for a suspended final recipient, as if the sender were suspended", check: "FLX-RLY-011/suspended-recipient", role: "coordinator",
	},
	{
		Variant: variant.Variant{Name: "relaymediaoffer", Mutations: []variant.Mutation{{
			File: "node/media/relay.go", Old: `	if env.Kind != federation.KindRelayForward {`, New: `	if true {`,
		}}},
		broke: "refuses media offered with a relay.forward, so no recording can travel through a relay", check: "FLX-MED-015/relayed-media",
	},
	{
		Variant: variant.Variant{Name: "relaymediaearly", Mutations: []variant.Mutation{{
			File: "node/relay.go", Old: `		if err := n.relayMediaReady(ctx, r); err != nil {`, New: `		if err := n.relayMediaReady(ctx, r); err != nil && false {`,
		}}},
		broke: "accepts a relayed message before its recording arrived", check: "FLX-MED-015/relayed-media", req: "FLX-MED-016",
	},
	{
		Variant: variant.Variant{Name: "relaymediapull", Mutations: []variant.Mutation{{
			File: "node/relay.go", Old: `	if route.Pull && relayedMedia(r) {`, New: `	if false && route.Pull && relayedMedia(r) {`,
		}}},
		broke: "takes a recording for a pull-only member it can never push it to", check: "FLX-MED-017/not-to-pull-only", role: "coordinator",
	},
	// send13: the federation listener's HTTP/2 receive window (FLX-BAT-007).
	{
		Variant: variant.Variant{Name: "smallwindow", Mutations: []variant.Mutation{{
			File: "node/cmd/flx/serve.go", Old: `		HTTP2: mtls.ServerHTTP2(),`, New: `		HTTP2: nil,`,
		}}},
		broke: "keeps Go's default 1 MiB HTTP/2 receive window, capping a 600 ms link at some 650 envelopes/s", check: "FLX-BAT-007/receive-window",
	},
	// wdrcheck: the withdrawal ordered after envelopes of the case in
	// flight (FLX-WDR-007): the withdrawal's row skips the per-case head
	// condition of the claims, every other row keeps it.
	{
		Variant: variant.Variant{Name: "withdraw-overtakes", Mutations: []variant.Mutation{{
			File: "node/store/outbox.go",
			Old:  "AND p.seq < o.seq AND (p.state NOT IN ('delivered', 'cancelled')",
			New:  "AND p.seq < o.seq AND NOT o.withdraws AND (p.state NOT IN ('delivered', 'cancelled')",
		}}},
		broke: "sends a case.withdraw while an earlier envelope of the case is still in flight", check: "FLX-WDR-007/after-in-flight",
	},
	// medsend: media sent by the candidate (FLX-MED-001, FLX-MED-011),
	// through the local API's media calls (SPEC.md §12).
	{
		Variant: variant.Variant{Name: "mediasentsize", Mutations: []variant.Mutation{{
			File: "node/media.go",
			Old:  `	for k, v := range map[string]any{"size_bytes": ref.SizeBytes, "chunk_bytes"`,
			New:  `	for k, v := range map[string]any{"size_bytes": ref.SizeBytes - 1, "chunk_bytes"`,
		}}},
		broke: "signs a size_bytes one byte short of the recording it attaches", check: "FLX-MED-001/sent-reference",
	},
	{
		Variant: variant.Variant{Name: "mediaresumezero", Mutations: []variant.Mutation{{
			File: "node/media/client.go",
			Old:  "\t\t\t\t\tif herr == nil {\n\t\t\t\t\t\tres.Offset = off\n",
			New:  "\t\t\t\t\tif herr == nil {\n\t\t\t\t\t\tres.Offset = 0 * off\n",
		}}},
		broke: "resumes a cut upload from 0 although the recipient's HEAD says it holds a chunk", check: "FLX-MED-011/resume-after-cut",
	},
	{
		Variant: variant.Variant{Name: "mediaenvelopefirst", Mutations: []variant.Mutation{{
			File: "node/media.go",
			Old:  "\tif err := s.n.pushMedia(ctx, to, envelope); err != nil {\n",
			New:  "\tif r := s.next.Send(ctx, to, envelope); r.Outcome != federation.Retry {\n\t\treturn r\n\t}\n\tif err := s.n.pushMedia(ctx, to, envelope); err != nil {\n",
		}}},
		broke: "POSTs a message.deliver before uploading its media, and uploads only once refused", check: "FLX-MED-011/resume-after-cut",
	},
	{
		Variant: variant.Variant{Name: "mediaincompletefinal", Mutations: []variant.Mutation{{
			File: "federation/client.go", Old: `	case code == problem.MediaIncomplete:`, New: `	case code == problem.MediaIncomplete && false:`,
		}}},
		broke: "dead-letters a message the recipient refused with media_incomplete instead of uploading the media again", check: "FLX-MED-011/reupload-after-incomplete",
	},
	// hostile: copies within one batch and the per-envelope size bound of
	// a batch (FLX-BAT-002).
	{
		Variant: variant.Variant{Name: "batch-copies-accepted", Mutations: []variant.Mutation{{
			File: "node/store/inbox.go", Old: "\t\tif !ok || first[e.Item.JTI] {", New: "\t\tif !ok {",
		}}},
		broke: "answers a second copy of an envelope in one batch, and other bytes under its jti, as accepted", check: "FLX-BAT-002/twice-in-batch",
	},
	{
		Variant: variant.Variant{Name: "batch-envelope-unbounded", Mutations: []variant.Mutation{
			{File: "node/receive.go", Old: "\tif int64(len(raw)) > n.o.MaxBodyBytes {", New: "\tif false {"},
			{File: "node/verifybatch.go", Old: "\t\tif int64(len(raw)) <= n.o.MaxBodyBytes {", New: "\t\tif true {"},
		}},
		broke: "bounds a batch by max_batch_bytes only, not each of its envelopes by MAX_BODY", check: "FLX-BAT-002/over-max-body",
	},
	{
		Variant: variant.Variant{Name: "batch-null-envelope", Mutations: []variant.Mutation{{
			File: "federation/batch.go", Old: "\t\t\t\tif e == nil {\n", New: "\t\t\t\tif e == nil {\n\t\t\t\t\te = new(string)\n\t\t\t\t}\n\t\t\t\tif false {\n",
		}}},
		broke: "reads a null among a batch's envelopes as an empty envelope and takes the rest of the batch", check: "FLX-BAT-003/limits",
	},
	// pullstrict: arrays of pull that must hold only strings (FLX-PUL-005,
	// FLX-PUL-007), refused whole as a batch is (FLX-BAT-003).
	{
		Variant: variant.Variant{Name: "pull-ack-null-receipt", Mutations: []variant.Mutation{{
			File: "federation/pull/handler.go",
			Old:  "\t\t\treturn Ack{}, fmt.Errorf(\"pull: acknowledgement: receipt %d is null, not a string\", i)\n",
			New:  "\t\t\tr = new(string)\n",
		}}},
		broke: "reads a null among an acknowledgement's receipts as an empty receipt and answers the others", check: "FLX-PUL-007/ack-not-strings",
	},
	{
		Variant: variant.Variant{Name: "puller-null-envelope", Mutations: []variant.Mutation{{
			File: "federation/pull/client.go",
			Old:  "\t\t\treturn nil, federation.NewError(federation.CodeBadEnvelope, fmt.Sprintf(\"envelope %d of the batch is null, not a string\", i), nil)\n",
			New:  "\t\t\tcontinue\n",
		}}},
		broke: "reads a null among a pull answer's envelopes as an empty envelope and processes the others", check: "FLX-PUL-005/puller-not-strings", role: rolePullOnly,
	},
	// mutants: small plausible bugs a reviewer would plant, where no
	// variant above reaches (one path of several, an edge of a limit).
	{
		Variant: variant.Variant{Name: "mut-origin-member", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: `		if origin != env.Issuer || h.Origin.Member != env.Issuer {`, New: `		if origin != env.Issuer {`,
		}}},
		broke: "takes a case.create of the sender's own case_id whose body.origin.member names another member", check: "FLX-ENV-011/sender-role",
	},
	{
		Variant: variant.Variant{Name: "mut-jti-del", Mutations: []variant.Mutation{{
			File: "federation/envelope.go", Old: `		if s[i] < 0x21 || s[i] > 0x7e {`, New: `		if s[i] < 0x21 || s[i] > 0x7f {`,
		}}},
		broke: "takes a jti holding U+007F (DEL), outside U+0021 to U+007E", check: "FLX-ENV-005/claim-values",
	},
	{
		Variant: variant.Variant{Name: "mut-aud-prefix", Mutations: []variant.Mutation{{
			File: "federation/envelope.go", Old: `	if w.Aud != v.Self {`, New: `	if !strings.HasPrefix(v.Self, w.Aud) {`,
		}}},
		broke: "takes an envelope whose aud is a prefix of its member id (XA for XA-RC)", check: "FLX-ENV-006/wrong-audience",
	},
	{
		Variant: variant.Variant{Name: "mut-dup-accepted-keep", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: `		drc := federation.ReceiptFor(env, federation.ReceiptDuplicate, n.o.Now())`,
			New: `		drc := federation.ReceiptFor(env, federation.ReceiptAccepted, n.o.Now())`,
		}}},
		broke: "answers a withdrawal (or message, response) sent again with an accepted receipt, not duplicate", check: "FLX-WDR-005/confirmation",
		req: "FLX-DLV-009",
	},
	{
		Variant: variant.Variant{Name: "mut-batch-bytes-edge", Mutations: []variant.Mutation{{
			File: "node/httpapi/federation.go", Old: "limit := f.n.MaxBatchBytes()\n\tif r.ContentLength > limit {", New: "limit := f.n.MaxBatchBytes()\n\tif r.ContentLength >= limit {",
		}}},
		broke: "refuses a batch of exactly max_batch_bytes with too_large", check: "FLX-BAT-001/at-limits",
	},
	{
		Variant: variant.Variant{Name: "mut-batch-bytes-doubled", Mutations: []variant.Mutation{{
			File: "node/httpapi/federation.go", Old: "\tlimit := f.n.MaxBatchBytes()\n", New: "\tlimit := 2 * f.n.MaxBatchBytes()\n",
		}}},
		broke: "takes a batch body over the max_batch_bytes it advertises", check: "FLX-BAT-001/at-limits",
		req: "FLX-BAT-003",
	},
	{
		Variant: variant.Variant{Name: "mut-batch-count-edge", Mutations: []variant.Mutation{{
			File: "federation/batch.go", Old: `	case len(out) > maxEnvelopes:`, New: `	case len(out) >= maxEnvelopes:`,
		}}},
		broke: "refuses a batch of exactly max_batch_envelopes envelopes with too_large", check: "FLX-BAT-001/at-limits",
	},
	{
		Variant: variant.Variant{Name: "mut-batch-no-content-type", Mutations: []variant.Mutation{{
			File: "node/httpapi/federation.go", Old: `	if err != nil || !strings.EqualFold(mt, federation.BatchMediaType) {`,
			New: `	if err == nil && !strings.EqualFold(mt, federation.BatchMediaType) {`,
		}}},
		broke: "takes a batch without Content-Type", check: "FLX-BAT-003/limits",
	},
	{
		Variant: variant.Variant{Name: "mut-pull-max-unbounded", Mutations: []variant.Mutation{{
			File: "federation/pull/handler.go", Old: `			if n < 1 || n > MaxMax {`, New: `			if n < 1 {`,
		}}},
		broke: "takes a pull with max=501", check: "FLX-PUL-002/query",
	},
	{
		Variant: variant.Variant{Name: "mut-pull-wait-31", Mutations: []variant.Mutation{{
			File: "federation/pull/handler.go", Old: `			if time.Duration(n)*time.Second > MaxWait {`, New: `			if time.Duration(n)*time.Second > MaxWait+time.Second {`,
		}}},
		broke: "takes a pull with wait=31", check: "FLX-PUL-002/query",
	},
	{
		Variant: variant.Variant{Name: "mut-pull-param-twice", Mutations: []variant.Mutation{{
			File: "federation/pull/handler.go", Old: `		if len(vals) != 1 {`, New: `		if len(vals) == 0 {`,
		}}},
		broke: "takes a pull naming max twice (reads the first)", check: "FLX-PUL-002/query",
	},
	{
		Variant: variant.Variant{Name: "mut-pull-ack-chunked", Mutations: []variant.Mutation{{
			File: "federation/pull/handler.go", Old: `	if int64(len(body)) > MaxAckBytes {`, New: `	if false && int64(len(body)) > MaxAckBytes {`,
		}}},
		broke: "bounds an acknowledgement by its Content-Length only: a chunked one over 4 MiB is read cut and answered bad_envelope", check: "FLX-PUL-007/ack-limits",
	},
	{
		Variant: variant.Variant{Name: "mut-retry-after-429", Mutations: []variant.Mutation{{
			File: "federation/client.go", Old: `	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {`,
			New: `	if status == http.StatusServiceUnavailable {`,
		}}},
		broke: "honours Retry-After on 503 but not on 429", check: "FLX-DLV-006/retry-after",
	},
	{
		Variant: variant.Variant{Name: "mut-relay-hop-future", Mutations: []variant.Mutation{{
			File: "federation/relay.go", Old: `		case h.Iat <= 0 || at.After(now.Add(skew)):`, New: `		case h.Iat <= 0:`,
		}}},
		broke: "takes a relay hop whose iat is later than now + SKEW", check: "FLX-RLY-004/tester-relay",
	},
	{
		Variant: variant.Variant{Name: "mut-relay-hop-older", Mutations: []variant.Mutation{{
			File: "federation/relay.go", Old: `			case at.Before(p.At.Add(-skew)):`, New: `			case false && at.Before(p.At.Add(-skew)):`,
		}}},
		broke: "takes a relay hop older than the hop before it by more than SKEW", check: "FLX-RLY-004/tester-relay",
	},
	{
		Variant: variant.Variant{Name: "mut-relay-hop-not-relay", Mutations: []variant.Mutation{{
			File: "federation/relay.go", Old: `			case !m.MayRelay(from):`, New: `			case false && !m.MayRelay(from):`,
		}}},
		broke: "takes a chain whose later hop is sent by a member that may not relay", check: "FLX-RLY-004/tester-relay",
	},
	{
		Variant: variant.Variant{Name: "mut-bundle-ttl", Mutations: []variant.Mutation{{
			File: "federation/bundle/bundle.go", Old: `	case peeked.Iat <= 0 || peeked.Exp <= peeked.Iat || exp.Sub(iat) > MaxTTL:`,
			New: `	case peeked.Iat <= 0 || peeked.Exp <= peeked.Iat:`,
		}}},
		broke: "imports a bundle whose exp - iat is over 90 days", check: "FLX-BDL-003/refused",
	},
	{
		Variant: variant.Variant{Name: "mut-bundle-iat-skew", Mutations: []variant.Mutation{{
			File: "federation/bundle/bundle.go", Old: `	case iat.After(now.Add(skew)):`, New: `	case iat.After(now.Add(2 * skew)):`,
		}}},
		broke: "imports a bundle issued up to twice SKEW in the future", check: "FLX-BDL-003/refused",
	},
	{
		Variant: variant.Variant{Name: "mut-bundle-exp-skew", Mutations: []variant.Mutation{{
			File: "federation/bundle/bundle.go", Old: `	case !now.Add(-skew).Before(exp):`, New: `	case !now.Add(-2 * skew).Before(exp):`,
		}}},
		broke: "imports a bundle expired up to twice SKEW ago", check: "FLX-BDL-003/refused",
	},
	{
		Variant: variant.Variant{Name: "mut-update-any-sender", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: `	case federation.KindCaseCreate, federation.KindCaseUpdate:
		if origin != env.Issuer`, New: `	case federation.KindCaseCreate:
		if origin != env.Issuer`,
		}}},
		broke: "checks the origin of a case.create but not of a case.update", check: "FLX-ENV-011/sender-role",
	},
	{
		Variant: variant.Variant{Name: "mut-media-offer-content-type", Mutations: []variant.Mutation{{
			File: "node/media/server.go", Old: `	if !mediaTypeIs(r, "application/json") {`, New: `	if false && !mediaTypeIs(r, "application/json") {`,
		}}},
		broke: "takes a media offer sent as text/plain or without Content-Type", check: "FLX-MED-003/offer-verified",
	},
	{
		Variant: variant.Variant{Name: "mut-pull-allow", Mutations: []variant.Mutation{{
			File: "node/httpapi/federation.go", Old: "\t\tcase pull.PathPull:\n\t\t\tallow = \"GET\"\n", New: "",
		}}},
		broke: "answers POST /flx/v1/pull 405 with Allow: POST", check: "FLX-API-005/method-not-allowed",
	},
	{
		Variant: variant.Variant{Name: "mut-relay-answers-inner-receipt", Mutations: []variant.Mutation{{
			File: "node/receivebatch.go", Old: `		out[i].Received = Received{Receipt: receipt, Status: federation.ReceiptAccepted, JTI: env.JTI, Kind: env.Kind}`,
			New: `		out[i].Received = Received{Receipt: a.receipt, Status: federation.ReceiptAccepted, JTI: env.JTI, Kind: env.Kind}`,
		}}},
		broke: "answers a relay.forward for this member with the end-to-end receipt of its inner envelope, not a receipt for the outer bytes", check: "FLX-RLY-005/inner-verified",
	},
	// planned checks made real: acknowledgements against an envelope queued for the puller (FLX-PUL-006).
	{
		Variant: variant.Variant{Name: "mut-pull-ack-other-bytes", Mutations: []variant.Mutation{{
			File: "federation/receipt.go", Old: `	if w.SHA256 != want.SHA256 {`, New: `	if false && w.SHA256 != want.SHA256 {`,
		}}},
		broke: "takes a receipt bound to other bytes (a pull acknowledgement's among them)", check: "FLX-PUL-006/ack-queued",
	},
	{
		Variant: variant.Variant{Name: "mut-pull-ack-forged", Mutations: []variant.Mutation{{
			File: "federation/receipt.go", Old: `	if _, err := u.tok.Verify(u.key); err != nil {`, New: `	if _, err := u.tok.Verify(u.key); false && err != nil {`,
		}}},
		broke: "takes a receipt checked one at a time (a pull acknowledgement's) without verifying its signature", check: "FLX-PUL-006/ack-queued",
	},
	{
		Variant: variant.Variant{Name: "mut-pull-refusal-any-digest", Mutations: []variant.Mutation{{
			File: "federation/pull/handler.go", Old: `	if !ok || q.SHA256 != rf.SHA256 {`, New: `	if !ok {`,
		}}},
		broke: "dead-letters a queued envelope on a puller's refusal acknowledged with the sha256 of other bytes", check: "FLX-PUL-006/ack-queued",
	},
	// FLX-BDL-005: replay records of imported envelopes outlive their exp.
	{
		Variant: variant.Variant{Name: "mut-bundle-forgets-expired", Mutations: []variant.Mutation{{
			File: "node/bundle.go", Old: "\t\tif err == nil {\n\t\t\trec, err = n.storeVerified(ctx, it.Envelope, it.Raw)",
			New: "\t\tif err == nil {\n\t\t\tif !it.Envelope.ExpiresAt.After(n.o.Now()) {\n\t\t\t\tit.Envelope.JTI += \"-forgotten\"\n\t\t\t}\n\t\t\trec, err = n.storeVerified(ctx, it.Envelope, it.Raw)",
		}}},
		broke: "forgets an imported envelope once its exp has passed: a bundle still valid stores it again", check: "FLX-BDL-005/reimport-after-exp",
	},
	// FLX-RLY-002: hop claims decoded strictly.
	{
		Variant: variant.Variant{Name: "mut-hop-claims-lenient", Mutations: []variant.Mutation{{
			File: "federation/coordination.go", Old: `	if err := decodeStrict(tok.UnverifiedPayload(), shapeFor(rv.Type()), claims); err != nil {`,
			New: `	if err := decodeStrict(tok.UnverifiedPayload(), shapeFor(rv.Type()), claims); err != nil && typ != TypHop {`,
		}}},
		broke: "takes a relay hop with a claim twice or an unknown claim", check: "FLX-RLY-002/hop-shape",
	},
	// FLX-RLY-004: a member that sends two hops is a loop.
	{
		Variant: variant.Variant{Name: "mut-relay-loop", Mutations: []variant.Mutation{{
			File: "federation/relay.go", Old: `		case senders[from]:`, New: `		case false && senders[from]:`,
		}}},
		broke: "takes a relay chain in which a member sends two hops (a loop)", check: "FLX-RLY-004/loop",
	},
	// FLX-RLY-003: a hop verifies under a key of its own iss.
	{
		Variant: variant.Variant{Name: "mut-hop-any-member-key", Mutations: []variant.Mutation{{
			File: "federation/coordination.go", Old: `	key, err = senderKey(m, signer, tok.Header().KID, keyTime, skew)`,
			New: `	key, err = senderKey(m, signer, tok.Header().KID, keyTime, skew)
	for i := 0; err != nil && typ == TypHop && i < len(m.Members); i++ {
		key, err = senderKey(m, m.Members[i].ID, tok.Header().KID, keyTime, skew)
	}`,
		}}},
		broke: "verifies a relay hop under any member's key with its kid, not only its iss's", check: "FLX-RLY-003/hop-as-origin",
	},
	// Media faults of FLX-MED-003 to FLX-MED-010, one check each (checks_media2.go).
	{
		Variant: variant.Variant{Name: "mut-media-offer-lenient-base64", Mutations: []variant.Mutation{{
			File: "node/media/header.go", Old: `h, err := base64.RawURLEncoding.Strict().DecodeString(o.ChunkHashes)`, New: `h, err := base64.RawURLEncoding.DecodeString(o.ChunkHashes)`,
		}}},
		broke: "takes a hash list in non-canonical base64url (spare bits set)", check: "FLX-MED-003/bad-offers",
	},
	{
		Variant: variant.Variant{Name: "mut-media-offer-repeated-member", Mutations: []variant.Mutation{{
			File: "node/media/header.go", Old: `if dupKeys(b) {`, New: `if false && dupKeys(b) {`,
		}}},
		broke: "takes an offer that names its envelope twice (the last wins)", check: "FLX-MED-003/bad-offers",
	},
	{
		Variant: variant.Variant{Name: "mut-media-session-per-envelope", Mutations: []variant.Mutation{{
			File: "node/media/server.go", Old: `id := UploadID(peer, ref)`, New: `id := Sum(raw)`,
		}}},
		broke: "opens a new session for each envelope, so a re-signed envelope (new jti) starts the media again from 0", check: "FLX-MED-004/new-jti-resumes",
	},
	{
		Variant: variant.Variant{Name: "mut-media-get-served", Mutations: []variant.Mutation{{
			File: "node/media/server.go", Old: "\t\tcase http.MethodHead:\n", New: "\t\tcase http.MethodHead, http.MethodGet:\n",
		}}},
		broke: "answers GET on a session (as HEAD) instead of 405", check: "FLX-MED-005/not-served",
	},
	{
		Variant: variant.Variant{Name: "mut-media-offer-reveals-blob", Mutations: []variant.Mutation{{
			File: "node/media/server.go", Old: "\tif st.Owner != peer { // cannot happen",
			New: "\tif _, serr := s.Store.Stat(ctx, ref.SHA256); serr == nil && !st.Complete {\n\t\tst.Offset, st.Complete = st.Size, true\n\t}\n\tif st.Owner != peer { // cannot happen",
		}}},
		broke: "answers an offer of media it holds from another member as complete", check: "FLX-MED-006/own-offset",
	},
	{
		Variant: variant.Variant{Name: "mut-media-ready-any-sender", Mutations: []variant.Mutation{{
			File: "node/media/server.go", Old: `if err == nil && st.Complete && st.Owner == iss {`, New: `if err == nil && st.Complete && st.Owner == iss || true {`,
		}}},
		broke: "accepts a message whose media it holds whole from another member", check: "FLX-MED-006/own-offset", req: "FLX-MED-010",
	},
	{
		Variant: variant.Variant{Name: "mut-media-head-cacheable", Mutations: []variant.Mutation{{
			File: "node/media/server.go", Old: "\th.Set(\"Cache-Control\", \"no-store\")\n\tw.WriteHeader(http.StatusOK)\n", New: "\tw.WriteHeader(http.StatusOK)\n",
		}}},
		broke: "answers HEAD on a session without Cache-Control: no-store", check: "FLX-MED-007/head",
	},
	{
		Variant: variant.Variant{Name: "mut-media-patch-any-type", Mutations: []variant.Mutation{{
			File: "node/media/server.go", Old: "\tif !mediaTypeIs(r, ContentTypeChunks) {", New: "\tif false && !mediaTypeIs(r, ContentTypeChunks) {",
		}}},
		broke: "takes PATCH bodies of any content type", check: "FLX-MED-008/bad-patches",
	},
	{
		Variant: variant.Variant{Name: "mut-media-offset-leading-zero", Mutations: []variant.Mutation{{
			File: "node/media/header.go", Old: `if len(s) == 0 || len(s) > 18 || (len(s) > 1 && s[0] == '0') {`, New: `if len(s) == 0 || len(s) > 18 {`,
		}}},
		broke: "takes an Upload-Offset with leading zeros", check: "FLX-MED-008/bad-patches",
	},
	{
		Variant: variant.Variant{Name: "mut-media-patch-reads-past-length", Mutations: []variant.Mutation{{
			File: "node/media/server.go", Old: "\tif r.ContentLength > st.Size-off {", New: "\tif false && r.ContentLength > st.Size-off {",
		}}},
		broke: "reads a PATCH body that Content-Length says goes past Upload-Length, and keeps its chunks", check: "FLX-MED-008/bad-patches",
	},
	{
		Variant: variant.Variant{Name: "mut-media-chunk-any-entry", Mutations: []variant.Mutation{{
			File: "node/media/server.go", Old: "\t\tif Sum(buf[:n]) != hashes[i] {",
			New: "\t\tif func() bool {\n\t\t\tfor _, h := range hashes {\n\t\t\t\tif h == Sum(buf[:n]) {\n\t\t\t\t\treturn false\n\t\t\t\t}\n\t\t\t}\n\t\t\treturn true\n\t\t}() {",
		}}},
		broke: "takes a chunk that matches any entry of the hash list, not its own", check: "FLX-MED-009/bad-chunks",
	},
	{
		Variant: variant.Variant{Name: "mut-media-whole-unchecked", Mutations: []variant.Mutation{
			{File: "node/media/disk.go", Old: "\tif Digest(u.h.Sum(nil)) != u.st.SHA256 {", New: "\tif false && Digest(u.h.Sum(nil)) != u.st.SHA256 {"},
			{File: "node/media/postgres.go", Old: "\t\tif Digest(h.Sum(nil)) != sum {", New: "\t\tif false && Digest(h.Sum(nil)) != sum {"},
		}},
		broke: "completes media whose chunks match but whose whole does not hash to the signed sha256", check: "FLX-MED-009/bad-chunks",
	},
	{
		Variant: variant.Variant{Name: "mut-media-erased-not-duplicate", Mutations: []variant.Mutation{{
			File: "node/media.go", Old: "\tif problem.CodeOf(err) != media.CodeMediaIncomplete {", New: "\tif true || problem.CodeOf(err) != media.CodeMediaIncomplete {",
		}}},
		broke: "answers a message accepted before, whose media a withdrawal erased since, with media_incomplete instead of duplicate", check: "FLX-MED-010/duplicate-after-accept",
	},
	// FLX-PUL-002: each puller gets only its own envelopes.
	{
		Variant: variant.Variant{Name: "mut-pull-any-member-queue", Mutations: []variant.Mutation{{
			File: "node/pull.go", Old: "\tif r, err := q.n.route(member); err != nil || !r.Pull {\n\t\treturn nil, false, nil\n\t}\n\trows, err := q.n.o.Store.ClaimDue(ctx, store.ClaimRequest{\n\t\tWorker: \"pull/\" + member, Now: now, Limit: lim.Count, Destination: member, Lease: until.Sub(now),",
			New: "\tif _, err := q.n.route(member); err != nil {\n\t\treturn nil, false, nil\n\t}\n\trows, err := q.n.o.Store.ClaimDue(ctx, store.ClaimRequest{\n\t\tWorker: \"pull/\" + member, Now: now, Limit: lim.Count, Lease: until.Sub(now),",
		}}},
		broke: "serves a pull from the whole queue, whoever pulls: any member gets envelopes queued for the others", check: "FLX-PUL-002/own-only",
	},
	// FLX-API-004: paths are compared as sent, percent escapes included.
	{
		Variant: variant.Variant{Name: "mut-path-unescaped", Mutations: []variant.Mutation{{
			File: "node/httpapi/federation.go", Old: `		if req.URL.RawPath != "" || strings.IndexByte(req.URL.Path, '%') >= 0 {`,
			New: `		if false {`,
		}}},
		broke: "routes a path spelt with percent escapes (/flx/v1/%65nvelopes) as the path it decodes to", check: "FLX-API-004/unknown-path",
	},
	// FLX-BDL-005: a known bundle (iss, jti) with other content is a replay.
	{
		Variant: variant.Variant{Name: "mut-bundle-jti-other-content", Mutations: []variant.Mutation{{
			File: "node/bundle.go", Old: `	if err := n.rememberBundle(ctx, opened); err != nil {`,
			New: `	if err := n.rememberBundle(ctx, opened); err != nil && problem.As(err).Code != federation.CodeReplay {`,
		}}},
		broke: "imports a bundle with the iss and jti of one imported before and other content (it processes no envelope twice, but stores the new ones)", check: "FLX-BDL-005/same-jti-other-content",
	},
	// FLX-RCP-005: the receipt's iss is the destination, and iat is there.
	{
		Variant: variant.Variant{Name: "mut-receipt-any-member", Mutations: []variant.Mutation{{
			File: "federation/receipt.go", Old: "\tif w.Iss != want.Issuer {", New: "\tif false && w.Iss != want.Issuer {",
		}}},
		broke: "takes a receipt issued and signed by any member of the federation, not only the destination", check: "FLX-RCP-005/receipt-faults",
	},
	{
		Variant: variant.Variant{Name: "mut-receipt-no-iat", Mutations: []variant.Mutation{{
			File: "federation/receipt.go", Old: "\tcase w.Iat <= 0:", New: "\tcase w.Iat < 0:",
		}}},
		broke: "takes a receipt without iat", check: "FLX-RCP-005/receipt-faults",
	},
	// FLX-ENV-005: aud is a member id (^[A-Z0-9][A-Z0-9-]{1,31}$).
	{
		Variant: variant.Variant{Name: "mut-member-id-33", Mutations: []variant.Mutation{{
			File: "federation/manifest.go", Old: "\tif len(id) < 2 || len(id) > 32 || !upperDigit(id[0]) {", New: "\tif len(id) < 2 || len(id) > 33 || !upperDigit(id[0]) {",
		}}},
		broke: "takes a member id of 33 characters (an aud of 33 characters is answered wrong_audience, not bad_envelope)", check: "FLX-ENV-005/claim-values",
	},
	{
		Variant: variant.Variant{Name: "mut-member-id-underscore", Mutations: []variant.Mutation{{
			File: "federation/manifest.go", Old: "\t\tif !upperDigit(id[i]) && id[i] != '-' {", New: "\t\tif !upperDigit(id[i]) && id[i] != '-' && id[i] != '_' {",
		}}},
		broke: "takes a member id holding an underscore (such an aud is answered wrong_audience, not bad_envelope)", check: "FLX-ENV-005/claim-values",
	},
	// FLX-MED-012: max_media_bytes is the largest media taken.
	{
		Variant: variant.Variant{Name: "mut-media-size-at-max", Mutations: []variant.Mutation{{
			File: "node/media/server.go", Old: "\tif ref.Size > lim.MaxMediaBytes {", New: "\tif ref.Size >= lim.MaxMediaBytes {",
		}}},
		broke: "refuses media of max_media_bytes exactly with too_large", check: "FLX-MED-012/too-large",
	},
	// FLX-BDL-003: the JWE's cty, and a suspended signer's code.
	{
		Variant: variant.Variant{Name: "mut-bundle-any-cty", Mutations: []variant.Mutation{{
			File: "federation/bundle/bundle.go", Old: "\tif enc.Header().Cty != TypSigned {", New: "\tif false && enc.Header().Cty != TypSigned {",
		}}},
		broke: "imports a bundle whose JWE header has another cty than flx-bundle+jws", check: "FLX-BDL-003/refused",
	},
	{
		Variant: variant.Variant{Name: "mut-suspended-signer-unknown-key", Mutations: []variant.Mutation{{
			File: "federation/envelope.go", Old: "\t\treturn nil, newErr(CodeSuspendedMember, fmt.Sprintf(\"member %q is suspended\", iss), nil)",
			New: "\t\treturn nil, newErr(CodeUnknownKey, fmt.Sprintf(\"member %q is suspended\", iss), nil)",
		}}},
		broke: "refuses what a suspended member signed with unknown_key, not suspended_member", check: "FLX-BDL-003/refused",
	},
	// FLX-PUL-002: a pull answers at most max envelopes.
	{
		Variant: variant.Variant{Name: "mut-pull-max-plus-one", Mutations: []variant.Mutation{{
			File: "federation/pull/handler.go", Old: "\t\t\tmax = n\n", New: "\t\t\tmax = n + 1\n",
		}}},
		broke: "answers a pull with one envelope more than its max", check: "FLX-PUL-002/own-only",
	},
	// FLX-MAT-007: only match queries count against the bound.
	{
		Variant: variant.Variant{Name: "mut-query-limit-all-kinds", Mutations: []variant.Mutation{{
			File: "node/querylimit.go", Old: "\tif env.Kind != federation.KindMatchQuery || n.queryLimit == nil {", New: "\tif n.queryLimit == nil {",
		}}},
		broke: "counts every kind against the match query bound, refusing a case.create with rate_limited", check: "FLX-MAT-007/rate-limit",
	},
	// FLX-LIM-005: one member's requests in flight are bounded.
	{
		Variant: variant.Variant{Name: "mut-inflight-unbounded", Mutations: []variant.Mutation{{
			File: "node/httpapi/inflight.go", Old: "\tif b.busy[member] >= b.max {", New: "\tif false && b.busy[member] >= b.max {",
		}}},
		broke: "holds every request one member opens (no per-member bound on requests in flight)", check: "FLX-LIM-005/in-flight",
	},
}
