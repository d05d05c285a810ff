// Package search computes the search index entries of a tracing case and
// turns a caseworker's query into the key groups and ranges that the store's
// index answers (store.SearchCases).
//
// Names are keyed with package node/names, so that one query finds a family
// name however it was written: Հովհաննիսյան, Hovhannisyan, Ovanesyan,
// Oganesyan and Оганесян hold a common phonetic or skeleton key; an Arabic
// name and its Latin spellings likewise. The transliteration tables are
// node/names' own (close to BGN/PCGN, with github.com/gosimple/unidecode for
// other scripts) and its Unicode folding is golang.org/x/text's. Besides
// names a case is keyed by the words of its places and their country codes
// (pl_), the words of its free text (w_: notes, local reference and case
// id, words of three letters or more; a free-text query word matches a
// w_, a name or a place word), the birth dates of its persons as far as known (bd_1984,
// bd_1984-05, bd_1984-05-12) and the years they may have been born in (by_,
// from a birth date or an age range), so that partial dates and age ranges
// are searched as key equality and key ranges over one full-text index of
// exact keys (the store's: GIN over a tsvector on PostgreSQL, FTS5 on
// SQLite). Keys hold
// personal data like the names they come from.
//
// A case is keyed with no more than its queries need, as every key is an
// entry the index writes for each case received: a name's phonetic key
// (p_) only when its skeleton is too short to be a key (a query token's
// group holds its skeleton whenever it holds its phonetic form, and the
// skeleton is a function of it), and no w_ key for a word the case holds
// as a name (t_) or place word (pl_) too (a free-text word's group holds
// all three). Search results are those of every key (TestSearchKeysEquivalent
// in package node compares them, on both stores, with the keys of
// Version 201).
//
// Package search must never import node, node/store, node/httpapi,
// federation or policy: it maps documents to keys and nothing else.
package search
