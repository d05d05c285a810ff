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
//     words written with vowels (0 by default: vowels are what
//     transliterations disagree on, and they made look-alikes of other
//     names: at the same recall, five times the false answers);
//   - the possible birth years (from a partial date or an age range, at
//     most MaxYearSpan years), KYear bits spread over the years;
//   - the sex, KSex bits.
//
// Field keys are HMAC-SHA256(federation secret, "flx-pprl/v1/" + field);
// each bigram's positions come from HMAC-SHA256(field key, counter ||
// bigram), two bytes per position (random hashing). Then every bit is
// flipped with probability Flip (BLIP, randomised response). Blocks are
// HMAC-SHA256(block key, k) cut to BlockBits bits for each name-pair key k
// of the person (the "np:" keys of match.Person.Keys: the skeleton of one
// name part with the first letter of another), never the keys of one word
// alone, which are few values, frequent enough to stand out.
//
// Wire form (JSON, to travel signed inside an envelope; the lead's SPEC
// defines the envelope):
//
//	{"v":1, "alg":"clk-hmac-sha256-blip", "kid":"<secret epoch id>",
//	 "params":{"l":1024,"k_skel":16,"k_phon":0,"k_year":24,"k_sex":8,"flip":0.02,"block_bits":16},
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
//     epsilon = ln((1-f)/f) differential privacy (3.9 at f = 0.02), and with
//     the birth year and sex in the same filter no two encodings are
//     identical, so frequent patterns are not there to count; an attacker
//     who groups similar encodings instead still finds the commonest names
//     (see Measured). Encode each person once per key epoch and reuse the
//     encoding: fresh noise per query could be averaged away.
//   - Linkage across epochs: a new key id makes all encodings incomparable;
//     encodings expire (exp) and are erased with their case.
//
// Not chosen: salting with a stable attribute (year of birth is often
// unknown or a range here, so salting would break recall); balanced Bloom
// filters and XOR folding (they hide the Hamming weight, which leaks name
// length, but cost recall we could not spare at the 0.90 target; the
// parameters leave room to add them in a version 2); more noise (at
// f = 0.06 the attack below still re-identifies 5.2% instead of 6.6%,
// while precision at 95% recall falls from 0.79 to 0.72 on 2,000 x 2,000
// before outranking); more weight on the birth year (k 40: 6.3%). Blocks are hashes cut to 16 bits, so each block mixes
// many name pairs; the blocks of common name pairs are still frequent, and
// an attacker uses them to find neighbours.
//
// # Answers
//
// [Index.Query] answers with the held encodings that share a block with
// the query and reach the Dice threshold ([DefaultThreshold] 0.66), best
// first, leaving out those more than [DefaultMargin] (0.05) below the best
// answer unless they reach [DefaultConfident] (0.85): another held person
// explains the query better.
//
// # Measured
//
// On the seeded corpus (go test ./node/match/pprl -run Quality -v):
//
//	2,000 x 2,000     precision 0.914  recall 0.929   (asserted floors 0.85 and 0.90)
//	20,000 x 20,000   precision 0.647  recall 0.935   (asserted floors 0.50 and 0.90)
//
// Recall holds with the population; precision falls, because a Dice
// coefficient knows nothing of how common a name is (weighting bits by
// how many held encodings set them did not help). The holder answers with
// candidates to confirm through the consented, policy-checked exchange,
// never with data.
//
// The frequency attack (go test ./node/match/pprl -run FrequencyAttack -v):
// an attacker without the secret holds 10,000 encodings of a population
// whose full names follow Zipf laws, and the exact frequency of every full
// name. He groups the encodings (identical bit patterns, or Dice at a
// threshold of his choosing from 0.5 to 1, finding neighbours through the
// blocks), ranks the groups by size and names the largest after the
// commonest names (10, 50 or 200 of them). Against plain CLKs of the name
// (same secret, no other field, no noise) identical patterns re-identify
// 8.8% of the population (41% of his guesses right). Against these
// encodings no two patterns are identical (0.01%); grouping by similarity
// at his best threshold still re-identifies 6.6% (30% of guesses right):
// the records of the commonest names, which are the least identifying.
// Encodings that let two spellings of one person match let the thief of
// many of them group the commonest names: they are personal data, kept
// and erased as the case is, and never sent in bulk (a query is one
// person).
//
// Package pprl must never import an FLX package other than schema,
// node/names and node/match/... (never node, node/store, node/httpapi,
// federation or policy).
package pprl
