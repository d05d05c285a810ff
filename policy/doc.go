// Package policy is FLX's data-protection policy engine: the local rules a
// National Society applies before anything leaves its node.
//
// A Society writes its settings in a YAML rules file (see example-rules.yaml,
// which is also the strict default returned by [Default]). [Load] or [Parse]
// validates it, naming the line and field of every problem, and compiles the
// Society's custom rules, written in CEL over case, destination, source, kind
// and now. An [Engine] then evaluates the built-in rules (RULES.md lists
// them: purpose, legal basis, consent scope and withdrawal, minors, the
// sought person's refusal, located-pending-consent, unaccompanied children,
// other vulnerable people, detention details, sensitive categories,
// minimisation, non-Movement recipients, destination eligibility, risk
// countries, retention, current version, manual review) and the custom
// rules for one document and one destination.
//
// The rules refer to protected classes of fields, not to field lists: every
// field of schema v1 is classified once ([Taxonomy]: identifying, locating,
// contact, photo, sensitive, detention, carer, free text, content, ... or
// non-personal), and a protective situation (a refusal, a pending consent, an
// unverified child or vulnerable person, a detainee, a sensitive category)
// withholds classes of the protected person's data in cases, responses and
// messages alike, and wherever a withheld value is repeated. Every rule
// fails closed: what it cannot establish as safe it denies or holds for
// review. A response or message is evaluated with the case it is about
// ([WithCase]); without it, it is denied. A case is evaluated with its
// current version ([CurrentVersion]).
//
// The result is a [Decision]: allow, allow_with_redactions, needs_review or
// deny; the JSON pointers removed; every rule that fired with its id, effect
// and a reason a caseworker understands; and the rules file's version and
// SHA-256 so a receipt can say which policy was applied. [Engine.Apply]
// also returns the redacted document, which is re-validated against
// schema v1. Any evaluation error fails closed: deny, with the error as the
// reason. [Check] is the function behind `flx policy check`.
//
// Package policy works on documents as generic JSON and may import only
// schema among FLX packages: it must never import node, federation or
// conformance (the node passes in what it knows about the destination from
// the federation manifest as a [Destination]).
package policy
