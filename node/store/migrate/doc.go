// Package migrate applies numbered SQL migration files (NNNN_name.sql, read
// from an fs.FS such as an embed.FS) to a database, and records each applied
// version with the SHA-256 of its file in a schema_migrations table. It
// refuses a database whose applied migrations differ from the files
// (ErrEdited: change the schema with a new migration, never by editing one)
// or that is newer than the files it knows (ErrTooNew).
//
// Pending migrations run in one transaction, so a failing one applies
// nothing; a file whose first line is "-- flx:no-transaction" runs on its
// own outside a transaction (CREATE INDEX CONCURRENTLY on PostgreSQL). A
// caller-supplied lock (AdvisoryLock on PostgreSQL) held for the whole run
// makes processes opening one database at once apply each migration exactly
// once.
//
// It knows no FLX table. It must never import the store, federation,
// policy, schema, conformance or the node's HTTP packages.
package migrate
