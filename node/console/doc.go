// Package console is the node's web console for caseworkers, operators and
// auditors, served by `flx serve` under /console/ on the local API listener.
//
// Pages are rendered on the server (html/template) from assets embedded in
// the binary; two small files, console.css and console.js, improve them
// when the browser runs scripts, and every page works without. Nothing is
// loaded from outside the node, and no inline script or style is used, so
// the strict Content-Security-Policy set on every answer holds.
//
// Sign-in exchanges a token, checked by an [Authenticator], for a
// server-side session held in an HTTP-only, SameSite=Strict cookie; every
// state-changing request carries the session's synchronizer token and
// passes the cross-origin checks of net/http. Every route names the roles
// that may open it (the route table in routes.go, checked by tests), and
// the console reaches the node only through a [Backend], which is the
// node's own operations: case documents are read through an audited read,
// writes through the operations the local API uses.
//
// Messages come from catalogs per language (catalog/*.json: English,
// French, Spanish, Russian, Arabic; right-to-left layout for Arabic), built
// into a golang.org/x/text/message catalog; a test fails when a catalog
// misses a key.
//
// Package console must never import node/httpapi (which mounts it),
// node/cmd/..., conformance, gorilla/mux or jwx, and never names the
// store's writing side: it lists through the node's read-only view
// (node.View) and changes data only through the node's operations
// (archtest). It never logs personal data: ids, routes and codes only.
package console
