package conformance_test

import "github.com/familylinks/flx/conformance/variant"

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
			Old:  `	r, err := n.o.Store.Receive(ctx, item, store.Receipt{Status: string(federation.ReceiptAccepted), Raw: receipt})`,
			New: `	go func() {
		time.Sleep(2 * time.Second)
		_, _ = n.o.Store.Receive(context.WithoutCancel(ctx), item, store.Receipt{Status: string(federation.ReceiptAccepted), Raw: receipt})
		signal(n.kick)
	}()
	if true {
		return Received{Receipt: receipt, Status: federation.ReceiptAccepted, JTI: env.JTI, Kind: env.Kind}, nil
	}
	r, err := n.o.Store.Receive(ctx, item, store.Receipt{Status: string(federation.ReceiptAccepted), Raw: receipt})`,
		}}},
		broke: "answers 202 before the envelope is stored", check: "FLX-DLV-009/duplicate",
	},
	{
		Variant: variant.Variant{Name: "nobackoff", Mutations: []variant.Mutation{
			{File: "node/delivery/delivery.go", Old: `	next := d.o.Now().Add(d.o.Backoff.Wait(it.Attempts, res.RetryAfter))`, New: `	next := d.o.Now()`},
			{File: "node/delivery/delivery.go", Old: `				until := ds.Failure(d.o.Now(), retryAfter)`, New: `				ds.Success()
				until := d.o.Now()`},
		}},
		broke: "retries without backoff", check: "FLX-DLV-004/backoff",
	},
	{
		Variant: variant.Variant{Name: "noretryafter", Mutations: []variant.Mutation{{
			File: "node/delivery/delivery.go",
			Old:  `	return d.conclude(ctx, it, start, d.sender.Send(ctx, it.Destination, it.Envelope))`,
			New: `	res := d.sender.Send(ctx, it.Destination, it.Envelope)
	res.RetryAfter = 0
	return d.conclude(ctx, it, start, res)`,
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
		broke: "binds receipts to the body instead of the envelope bytes", check: "FLX-RCP-001/receipt",
	},
	{
		Variant: variant.Variant{Name: "noanswer", Mutations: []variant.Mutation{{
			File: "node/process.go", Old: `		return n.answerQuery(ctx, tx, it, claims)`, New: `		return nil, nil, nil`,
		}}},
		broke: "never answers a match query", check: "FLX-MAT-001/query-answered",
	},
	{
		Variant: variant.Variant{Name: "querynames", Mutations: []variant.Mutation{{
			File: "node/receive.go", Old: `	if err := schema.Validate(docKind, env.Body); err != nil {`,
			New: `	if err := schema.Validate(docKind, env.Body); err != nil && docKind != schema.KindMatchQuery {`,
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
}
