// Package pprl encodes persons for privacy-preserving record linkage across
// borders: a member asks peers or the coordinator whether they hold a
// likely match by sending keyed Bloom-filter encodings instead of names,
// and the holder answers with opaque handles and Dice scores, never names.
//
// # Encoding (version 1, alg "clk-hmac-sha256-blip")
//
// For each written form of the person's name (at most MaxFilters), one
// record-level Bloom filter (CLK, Schnell 2011/2014) of Params.Bits bits
// holds, each field hashed with its own key:
//
//   - the bigrams of every word's skeleton (node/names), KSkeleton bits each
//     (the skeleton agrees across scripts, Arabic without vowels included);
//   - the bigrams of every word's phonetic form, KPhonetic bits each, for
//     words written with vowels;
//   - the possible birth years (from a partial date or an age range, at
//     most MaxYearSpan years), KYear bits spread over the years;
//   - the sex, KSex bits.
//
// Field keys are HMAC-SHA256(federation secret, "flx-pprl/v1/" + field);
// each bigram's positions come from HMAC-SHA256(field key, counter ||
// bigram), two bytes per position (random hashing). Then every bit is
// flipped with probability Flip (BLIP, randomised response). Blocks are
// HMAC-SHA256(block key, skeleton of one word | first letter of another's
// skeleton) cut to BlockBits bits.
//
// Wire form (JSON, to travel signed inside an envelope; the lead's SPEC
// defines the envelope):
//
//	{"v":1, "alg":"clk-hmac-sha256-blip", "kid":"<secret epoch id>",
//	 "params":{"l":1024,"k_skel":12,"k_phon":8,"k_year":24,"k_sex":8,"flip":0.02,"block_bits":16},
//	 "exp":"2024-07-01T00:00:00Z",
//	 "filters":["<base64 of l/8 bytes>", ...], "blocks":["<base64url, no padding>", ...]}
//
// [Parse] refuses another version or algorithm, bad parameters, filters of
// the wrong size, more than MaxFilters filters or MaxBlocks blocks, bodies
// over 64 KiB, and an expired encoding. [Dice] refuses pairs made with
// other parameters or another key id ([ErrMismatch]) and expired ones.
//
// # What the hardening defends against, and what it does not
//
//   - Dictionary attacks by anyone without the federation secret (a thief
//     of stored encodings, a network observer): keyed hashing. Members hold
//     the secret, so a member receiving a query can encode guessed names and
//     compare: against a curious member the defences are minimisation (no
//     names, handles only), expiry, signed and audited queries, and rate
//     limits in the node, not cryptography.
//   - The double-hashing attack (Niedermeyer et al. 2014, Kroll and Steinmetzer
//     2015): positions come from independent HMAC outputs, not h1 + i*h2.
//   - Attribute-level frequency attacks (Kuzu et al. 2011): fields share one
//     record-level filter, each with its own key, so no field has a filter
//     whose frequencies mirror one attribute's.
//   - Pattern-mining and graph attacks on frequent bit patterns (Christen et
//     al. 2017-2018, Vidanage et al. 2019): BLIP gives each bit
//     epsilon = ln((1-f)/f) differential privacy (3.9 at f = 0.02) and blurs
//     frequent patterns. Encode each person once per key epoch and reuse the
//     encoding: fresh noise per query could be averaged away.
//   - Linkage across epochs: a new key id makes all encodings incomparable;
//     encodings expire (exp) and are erased with their case.
//
// Not chosen: salting with a stable attribute (year of birth is often
// unknown or a range here, so salting would break recall); balanced Bloom
// filters and XOR folding (they hide the Hamming weight, which leaks name
// length, but cost recall we could not spare at the 0.90 target; the
// parameters leave room to add them in a version 2). Blocks are hashes cut
// to 16 bits, so each block mixes many name pairs: equal blocks say little,
// and a block's frequency is not a name's.
//
// Measured on the seeded corpus (go test ./node/match/pprl -run Quality -v):
// recall 0.907 at DefaultThreshold 0.6, with precision 0.61; the holder
// answers with candidates to confirm through the consented, policy-checked
// exchange, never with data.
//
// Package pprl must never import an FLX package other than schema,
// node/names and node/match/... (never node, node/store, node/httpapi,
// federation or policy).
package pprl
