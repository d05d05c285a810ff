package httpapi

// DELIBERATE BREAKAGE FOR THE CONFORMANCE SUITE'S OWN TESTS. NEVER SET.
// See node/breakage.go: conformance/teeth_test.go builds flx with the tag
// flx_broken_nolimit, under which breakage_nolimit.go sets this variable;
// federation.go (envelopes) then reads bodies without the size limit.
var brokenNoBodyLimit bool
