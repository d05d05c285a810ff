// Package names turns personal names written in any script into comparable
// Latin keys, for search indexes and for candidate matching.
//
// A tracing enquiry and a registration describe the same person in other
// scripts and other transliteration schemes: Հովհաննիսյան, Hovhannisyan,
// Ovanesyan, Oganesyan, Оганесян and Ованесян are one family name; محمد is
// written Mohammed, Muhammad, Mohamad, Muhamed; عبد الرحمن is Abd al-Rahman,
// Abdurrahman, Abdel Rahman. The package reduces each written form, step by
// step, to keys that agree across those spellings:
//
//  1. Unicode normalisation (NFKD, combining marks removed) and full case
//     folding, with golang.org/x/text.
//  2. Script detection ([DetectScript]): the ISO 15924 code of the letters
//     (Latn, Cyrl, Armn, Geor, Arab, Grek, Hebr, ...).
//  3. Transliteration to Latin ([Latin]) with the tables in translit.go, one
//     per script (Armenian, Cyrillic, Georgian, Arabic with Persian letters,
//     Greek), close to the BGN/PCGN romanisations and tuned for names (ու is
//     u, е at a word's start is e, unvocalised Arabic gives consonants and
//     long vowels). Letters of any other script fall back to
//     github.com/gosimple/unidecode, so no name is ever left without a key.
//  4. Tokens ([Analyze]): words, with apostrophes and ʿayn dropped, Arabic
//     articles and patronymic particles (al-, el-, ar-, bin, ibn, ...)
//     removed, and the compounds Abd ... and Abu ... joined into one token
//     whatever their spelling.
//  5. Per token, a canonical Latin form, a phonetic form and a skeleton
//     ([Token]): the rewrite rules of phonetic.go (data, tested one by one)
//     fold the usual transliteration variants (kh/h/ch, j/dj/dzh, q/k, w/v,
//     ou/u, doubled letters, Armenian Hov-/Ov-/Og-, ...), vowels are reduced
//     to three classes in the phonetic form and removed, with h, in the
//     skeleton.
//
// # Keys for a search index
//
// [SearchKeys] returns the keys to index for one name value; [QueryTerms]
// returns, for a query, one group of keys per query token: a record matches
// when, for every group, it holds at least one of the group's keys
// ([QueryKeys] is the same keys flattened, for an OR search ranked by the
// number of keys hit). Every key is ASCII and matches ^[tps]_[a-z]+$:
//
//	t_<latin>     the canonical Latin token       t_hovhannisyan
//	p_<phonetic>  the phonetic form               p_uvanisian
//	s_<skeleton>  the consonant skeleton           s_vnsn
//
// so that a full-text index holds each key as one term: node/store keeps
// them as a tsvector of exact lexemes under a GIN index on PostgreSQL and
// in an FTS5 table (tokenize = "ascii tokenchars '_-'") on SQLite; a query
// is the groups joined with AND, each group's keys with OR.
// [Latin] gives the whole value in Latin letters for a pg_trgm column.
//
// Keys are stable: the same input gives the same keys on every platform and
// Go version, a golden file (testdata/keys.golden) pins them, and any change
// to the tables or rules that changes a key must bump [KeyVersion], which a
// store records next to its index so that it knows to rebuild it.
//
// Personal data: keys are derived from names and are personal data like the
// names themselves. The package never logs.
//
// Package names must never import an FLX package other than schema (it is a
// leaf used by node/match and by the store's search), and in particular
// never node, node/store, node/httpapi, federation or policy.
package names
