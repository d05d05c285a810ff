package store

// AuditHash lets the external tests forge a row the way an attacker who
// knows the algorithm would.
var AuditHash = auditHash

// SetDeliverChunk makes MarkDeliveredAll write n receipts per statement
// until the test ends, so a small test crosses chunk boundaries.
func SetDeliverChunk(t interface{ Cleanup(func()) }, n int) {
	old := deliverChunk
	deliverChunk = n
	t.Cleanup(func() { deliverChunk = old })
}
