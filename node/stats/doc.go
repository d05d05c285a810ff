// Package stats computes FLX activity statistics without personal data
// (conformance/SPEC.md §17): per calendar month, a member's counts of Red
// Cross messages collected, transmitted and distributed, phone calls, video
// messages, tracing requests opened, located and closed, people registered,
// and people reunited with the children among them; it protects them so
// that no person can be singled out, builds the signed report's body (schema
// v1 stats_report, envelope kind stats.report), and, at the coordinator,
// aggregates reports by member, country and period and exports them as CSV.
//
// The node hands in its schema v1 documents through Input (Compute never
// reads the store itself). Each member counts only its own activity: the
// cases it is the origin of and the message states it recorded itself, so
// that summing members' reports counts no event twice.
//
// Disclosure control (Protection; the defaults are k = 5, b = 5):
//
//   - 0 is reported as 0;
//   - a count from 1 to k-1 is suppressed: reported as null ("<k" in CSV);
//   - a count of k or more is rounded to the nearest multiple of b, halves
//     up (b <= k, so it never becomes 0);
//   - rounding is deterministic: a recomputed report of the same data says
//     the same, so asking again reveals nothing;
//   - a report carries no totals and no sub-totals computed from raw counts:
//     every published number comes from raw data exactly once, and every
//     aggregate (by member, country, period) is a sum of published numbers,
//     so no two published numbers differ by an unpublished small count;
//     aggregates keep the number of suppressed cells they could not add;
//   - a month is reported only once it is over and settled (Due), so a
//     report is not re-sent day after day with counts creeping up by one.
//
// Package stats may import schema only. It must never import node core
// (github.com/familylinks/flx/node), node/store, node/httpapi, policy or
// federation: the node wires it (reads its store into Input, signs the body
// as a stats.report envelope, serves the aggregates).
package stats
