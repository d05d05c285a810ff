package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/familylinks/flx/schema"
)

// Destination is the member a document is about to be sent to, as the node
// knows it from the federation manifest. Role is society, delegation,
// coordinator or non_movement; Accepts lists the envelope kinds it accepts.
type Destination struct {
	Member  string   `json:"member"`
	Country string   `json:"country"`
	Role    string   `json:"role"`
	Active  bool     `json:"active"`
	Accepts []string `json:"accepts"`
}

// Source is the sending Society (by default the rules file's member and
// country).
type Source struct {
	Member  string `json:"member"`
	Country string `json:"country"`
}

// Validator checks a document against schema v1; docKind is "case",
// "response", "message" or "withdrawal".
type Validator func(docKind string, doc []byte) error

// Engine evaluates the rules for documents about to leave the node. It is
// safe for concurrent use.
type Engine struct {
	rules    *Rules
	source   Source
	validate Validator
	// valid remembers the documents validate accepted; nil unless validate
	// is the default schema v1 validator (a custom one may not be a
	// function of the bytes alone).
	valid         *validMemo
	customChecker bool
	builtins      []builtin // the built-in rules, in order (all of them)
}

// Option configures an Engine.
type Option func(*Engine)

// WithSource overrides the sending member and country given to custom rules
// (default: the rules file's member and country).
func WithSource(s Source) Option { return func(e *Engine) { e.source = s } }

// WithValidator replaces the schema validator run on the input and on the
// redacted output (default: schema v1). nil disables validation, which only
// tests and fuzzing should do.
func WithValidator(v Validator) Option {
	return func(e *Engine) { e.validate, e.customChecker = v, true }
}

// WithoutBuiltin disables the built-in rules ids: a rule mutation, with
// which a test shows, through real nodes, that a rule is needed. Nothing in
// flx calls it, so the linker leaves it out of the release binary
// (deploy/image's TestReleaseBinaryCarriesNoTestCode holds that).
func WithoutBuiltin(ids ...string) Option {
	return func(e *Engine) {
		var keep []builtin
		for _, b := range e.builtins {
			if !slices.Contains(ids, b.id) {
				keep = append(keep, b)
			}
		}
		e.builtins = keep
	}
}

// New returns an engine for the rules.
func New(r *Rules, opts ...Option) *Engine {
	e := &Engine{
		rules:    r,
		source:   Source{Member: r.Config.Member, Country: r.Config.Country},
		validate: schemaValidator,
		builtins: builtins,
	}
	for _, o := range opts {
		o(e)
	}
	if !e.customChecker {
		e.valid = &validMemo{}
	}
	return e
}

// Rules returns the engine's rules.
func (e *Engine) Rules() *Rules { return e.rules }

// EvalOption adds facts the caller knows to one evaluation.
type EvalOption func(*evalOptions)

type evalOptions struct {
	validated      bool
	currentVersion int64
	caseDoc        []byte
	hasCase        bool
	through        []Destination
}

// CurrentVersion tells the engine the current version of the case in the
// node's store: any other version is denied, and a case evaluated without
// it is denied too (FLX-DP-CURRENT-VERSION).
func CurrentVersion(v int64) EvalOption { return func(o *evalOptions) { o.currentVersion = v } }

// Validated tells the engine that the caller has validated the document's
// exact bytes against schema v1 as the envelope kind's document (with
// [Engine.Validate] or schema.Validate; a node's stored case was validated
// when it was stored), so that Apply only reads it instead of validating it
// again. It applies with the default validator only (an engine with a
// validator of its own still calls it), never to the case given with
// [WithCase], and never to the redacted output, which is always validated.
// A document the validator's parser refuses is still denied.
func Validated() EvalOption { return func(o *evalOptions) { o.validated = true } }

// WithCase gives the engine the case a response or message is about (the
// schema v1 case document as this node holds it, with the same case_id).
// Responses and messages honour the case's consent, refusal, pending
// consent, vulnerable people, detention, feared countries and withheld
// values, so evaluating one without its case is denied (FLX-DP-CONTEXT).
// For a case the option is ignored; for a withdrawal it is optional.
func WithCase(caseDoc []byte) EvalOption {
	return func(o *evalOptions) { o.caseDoc, o.hasCase = caseDoc, true }
}

// Through names the members that carry the document on its way to the
// destination (the relays of its route). A relay holds what it carries in
// the clear, so each is judged as a destination of the same document too:
// every rule applies to it, except that it need not accept the kind (it
// carries the envelope, it does not process it). The decision takes the
// strongest effect and the union of the redactions over the destination
// and its relays, so that neither receives what either may not hold; the
// rules that fired for a relay say so in their reason.
func Through(relays ...Destination) EvalOption {
	return func(o *evalOptions) { o.through = append(o.through, relays...) }
}

// Evaluate decides whether doc (the schema document of an envelope of the
// given kind) may be sent to dst. It never fails: any error is a deny with
// the error as its reason. Evaluate is a dry run of Apply.
func (e *Engine) Evaluate(ctx context.Context, doc []byte, kind string, dst Destination, now time.Time, opts ...EvalOption) Decision {
	d, _ := e.Apply(ctx, doc, kind, dst, now, opts...)
	return d
}

// Apply evaluates the rules and produces the document to send: the input
// with every redacted pointer removed, re-validated against schema v1. The
// bytes are nil when the decision is deny; for needs_review they are the
// document to send once an operator approves. When nothing is redacted the
// input bytes are returned unchanged.
func (e *Engine) Apply(ctx context.Context, doc []byte, kind string, dst Destination, now time.Time, opts ...EvalOption) (d Decision, out []byte) {
	d = Decision{
		Kind:          kind,
		Destination:   dst.Member,
		Redactions:    []string{},
		Fired:         []Fired{},
		PolicyVersion: e.rules.Config.Version,
		PolicyHash:    e.rules.Hash,
		EvaluatedAt:   now.UTC(),
	}
	defer func() {
		if r := recover(); r != nil {
			d = failClosed(d, ruleError, fmt.Errorf("internal error: %v", r))
			out = nil
		}
	}()
	var o evalOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := ctx.Err(); err != nil {
		return failClosed(d, ruleError, err), nil
	}
	docKind, ok := docKindForEnvelope(kind)
	if !ok {
		return failClosed(d, ruleInput, fmt.Errorf("unknown envelope kind %q", kind)), nil
	}
	// A document schema v1 accepts is read once, by the validator; any
	// other goes the long way, which names what is wrong with it.
	m, valid := e.validTree(docKind, doc, o.validated)
	if !valid {
		var err error
		if m, err = decodeObject(doc); err != nil {
			return failClosed(d, ruleInput, fmt.Errorf("the document is not a JSON object: %w", err)), nil
		}
	}
	d.CaseID = str(m["case_id"])
	if v, ok := intVal(m["version"]); ok && docKind == "case" {
		d.CaseVersion = v
	}
	if e.validate != nil && !valid {
		if err := e.check(docKind, doc); err != nil {
			return failClosed(d, ruleInput, fmt.Errorf("the %s document does not validate against schema v1: %v", docKind, err)), nil
		}
	}

	var cs map[string]any
	var err error
	switch {
	case docKind == "case":
		cs = m
	case o.hasCase:
		if cs, err = e.caseContext(o.caseDoc, d.CaseID); err != nil {
			return failClosed(d, ruleContext, err), nil
		}
	case docKind != "withdrawal" && docKind != "stats_report":
		return failClosed(d, ruleContext, fmt.Errorf("a %s is checked against the case it is about (its consent, refusal, vulnerable people, detention and feared countries), and no case was given: nothing is sent", docKind)), nil
	}

	s := e.evaluate(ctx, kind, docKind, m, cs, dst, now, o)
	for _, via := range o.through {
		// The relay need not accept the kind: it carries the envelope.
		via.Accepts = append(slices.Clone(via.Accepts), kind)
		vs := e.evaluate(ctx, kind, docKind, m, cs, via, now, o)
		for p := range vs.redact {
			s.redact[p] = true
		}
		for _, f := range vs.fired {
			f.Reason = "relay " + via.Member + " (carries it in the clear): " + f.Reason
			s.fired = append(s.fired, f)
		}
		if vs.err != nil && s.err == nil {
			s.err = vs.err
		}
	}
	if s.fired != nil {
		d.Fired = s.fired
	}
	if s.err != nil {
		d.Error = s.err.Error()
	}
	d.Effect = Allow
	for _, f := range s.fired {
		if fe := ruleEffectToDecision(f.Effect); fe.rank() > d.Effect.rank() {
			d.Effect = fe
		}
	}
	if d.Effect == AllowWithRedactions && len(s.redact) == 0 {
		d.Effect = Allow
	}
	if d.Effect == Deny {
		return d, nil
	}
	if len(s.redact) == 0 {
		return d, doc
	}

	// Redact: remove the minimal set of pointers, deepest and last first.
	all := make([]string, 0, len(s.redact))
	for p := range s.redact {
		all = append(all, p)
	}
	ps, err := minimalPointers(all)
	if err != nil {
		return failClosed(d, ruleError, err), nil
	}
	for _, p := range ps {
		if requiredPointer(p) {
			return failClosed(d, ruleOutput, fmt.Errorf("a rule asked to remove %s, which schema v1 requires; the case cannot be sent", p)), nil
		}
		d.Redactions = append(d.Redactions, p.String())
	}
	// A document the engine itself found valid (validTree: validated now
	// or before, not on the caller's word) stays valid when no schema
	// requires what the redactions remove (schema.RemovalsKeepValid, asked
	// before the tree changes).
	kept := valid && !o.validated && schema.RemovalsKeepValid(schema.Kind(docKind), m, ps)
	root, err := removeAll(any(m), ps)
	if err != nil {
		return failClosed(d, ruleError, err), nil
	}
	out, err = encodeTree(root, len(doc))
	if err != nil {
		return failClosed(d, ruleError, err), nil
	}
	// Otherwise a tree read by the schema v1 validator, with members and
	// items removed, is checked as it is: the bytes encodeTree wrote decode
	// back to it, so when the validator's fast check passes the tree,
	// parsing and validating out again would pass too. Anything else (a
	// tree the fast check does not pass, another validator) is validated
	// from the bytes as before, which fails closed with the schema's
	// reasons.
	if e.validate != nil && !kept && !(valid && schema.TreeValid(schema.Kind(docKind), obj(root))) {
		if err := e.check(docKind, out); err != nil {
			return failClosed(d, ruleOutput, fmt.Errorf("the redacted document no longer validates against schema v1, so it cannot be sent: %v", err)), nil
		}
	}
	return d, out
}

// evaluate runs every rule for one destination of the document.
func (e *Engine) evaluate(ctx context.Context, kind, docKind string, m, cs map[string]any, dst Destination, now time.Time, o evalOptions) *state {
	s := &state{
		ctx: ctx, cfg: &e.rules.Config, kind: kind, docKind: docKind, doc: m, cs: cs, dst: dst,
		src: e.source, now: now, opts: o, redact: map[string]bool{}, builtins: e.builtins,
	}
	for _, b := range e.builtins {
		if !b.late {
			s.runBuiltin(b)
		}
	}
	s.runCustom(e.rules.custom)
	for _, b := range e.builtins {
		if b.late {
			s.runBuiltin(b)
		}
	}
	return s
}

// caseContext decodes and checks the case a response or message is about.
func (e *Engine) caseContext(doc []byte, caseID string) (map[string]any, error) {
	cm, valid := e.validTree("case", doc, false)
	if !valid {
		var err error
		if cm, err = decodeObject(doc); err != nil {
			return nil, fmt.Errorf("the case given as context is not a JSON object: %w", err)
		}
	}
	switch {
	case valid: // validated against schema v1 as a case
	case e.validate != nil:
		if err := e.check("case", doc); err != nil {
			return nil, fmt.Errorf("the case given as context does not validate against schema v1: %v", err)
		}
	case str(cm["schema"]) != "flx/v1/case":
		return nil, fmt.Errorf("the case given as context is not a schema v1 case")
	}
	if got := str(cm["case_id"]); got == "" || got != caseID {
		return nil, fmt.Errorf("the case given as context is %q, but the document is about %q", got, caseID)
	}
	return cm, nil
}

// Engine-level rule ids (not configurable rules; they record why an
// evaluation could not be completed).
const (
	ruleInput   = "FLX-DP-INPUT"   // the document is not a valid schema v1 document of its kind
	ruleContext = "FLX-DP-CONTEXT" // a response or message without (a matching, valid) case
	ruleOutput  = "FLX-DP-OUTPUT"  // the redacted document would not be valid
	ruleError   = "FLX-DP-ERROR"   // internal or context error
)

func failClosed(d Decision, id string, err error) Decision {
	d.Effect = Deny
	d.Redactions = []string{}
	d.Error = err.Error()
	d.Fired = append(d.Fired, Fired{RuleID: id, Effect: RuleDeny, Reason: err.Error()})
	return d
}

func docKindForEnvelope(kind string) (string, bool) {
	k, ok := schema.KindForEnvelope(kind)
	return string(k), ok
}

// schemaValidator validates against schema v1 (the default Validator).
func schemaValidator(docKind string, doc []byte) error {
	return schema.Validate(schema.Kind(docKind), doc)
}

// maxDocSize bounds what Apply parses (the federation limit is 1 MiB).
const maxDocSize = 4 << 20

func decodeObject(doc []byte) (map[string]any, error) {
	if len(doc) > maxDocSize {
		return nil, fmt.Errorf("document larger than %d bytes", maxDocSize)
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("got %T", v)
	}
	return m, nil
}

func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// state is one evaluation in progress.
type state struct {
	ctx     context.Context
	cfg     *Config
	kind    string
	docKind string
	doc     map[string]any
	// cs is the case the document is about: the document itself for a
	// case, the WithCase context for a response or message (nil only for
	// a withdrawal without context).
	cs       map[string]any
	builtins []builtin
	ps       []person
	cons     []consent
	flds     []field
	dst      Destination
	src      Source
	now      time.Time
	opts     evalOptions
	redact   map[string]bool
	keep     map[string]bool // fields a rule keeps on purpose (a detention notice)
	left     []Class         // remainingPersonal, computed when redact had leftAt entries
	leftAt   int
	fired    []Fired
	err      error
	act      map[string]any // CEL activation, built on first use
}

func (s *state) fire(id, effect, reason string, ptrs []string) {
	f := Fired{RuleID: id, Effect: effect, Reason: reason}
	if effect == RuleRedact {
		// The same comparisons as on parsed pointers, so the same order.
		slices.SortFunc(ptrs, comparePointerStrings) // the algorithm of sort.Slice, without its allocations
		f.Pointers = ptrs
		for _, p := range ptrs {
			s.redact[p] = true
		}
	}
	s.fired = append(s.fired, f)
}

func (s *state) fail(id string, err error) {
	if s.err == nil {
		s.err = fmt.Errorf("%s: %w", id, err)
	}
	s.fired = append(s.fired, Fired{RuleID: id, Effect: RuleDeny, Reason: "evaluation error (fails closed): " + oneLine(err.Error())})
}

// present reports whether the pointer exists and is not (yet) redacted.
func (s *state) present(p string) bool {
	return exists(s.doc, p) && !s.redacted(p)
}

// redacted reports whether the pointer or one of its ancestors is to be
// removed.
func (s *state) redacted(p string) bool {
	for q := p; q != ""; {
		if s.redact[q] {
			return true
		}
		i := strings.LastIndexByte(q, '/')
		if i < 0 {
			break
		}
		q = q[:i]
	}
	return false
}

// existing keeps the pointers that exist in the document.
func (s *state) existing(ptrs ...string) []string {
	out := ptrs[:0:0]
	for _, p := range ptrs {
		if exists(s.doc, p) {
			out = append(out, p)
		}
	}
	return out
}

func (s *state) runBuiltin(b builtin) {
	if !contains(b.kinds, s.docKind) {
		return
	}
	if err := s.ctx.Err(); err != nil {
		s.fail(b.id, err)
		return
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				s.fail(b.id, fmt.Errorf("internal error: %v", r))
			}
		}()
		if err := b.eval(s); err != nil {
			s.fail(b.id, err)
		}
	}()
}

func (s *state) runCustom(rules []*compiledRule) {
	for _, r := range rules {
		if !contains(r.Kinds, s.kind) {
			continue
		}
		if s.act == nil {
			s.act = celActivation(s.doc, s.kind, s.dst, s.src, s.now)
		}
		ok, err := r.eval(s.ctx, s.act)
		if err != nil {
			s.fail(r.ID, err)
			continue
		}
		if !ok {
			continue
		}
		if r.Effect != RuleRedact {
			s.fire(r.ID, r.Effect, r.Reason, nil)
			continue
		}
		var ptrs []string
		for _, p := range r.patterns {
			ptrs = append(ptrs, expandWildcards(s.doc, p)...)
		}
		if len(ptrs) > 0 {
			s.fire(r.ID, RuleRedact, r.Reason, ptrs)
		}
	}
}
