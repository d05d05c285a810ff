// Package migrate applies numbered SQL migration files (NNNN_name.sql, read
// from an fs.FS such as an embed.FS) to a database and records each applied
// version in a schema_migrations table, all inside one transaction guarded by
// a caller-supplied lock (pg_advisory_xact_lock on PostgreSQL), so two
// processes opening the same database at once apply each migration exactly
// once. It refuses a database that is newer than the files it knows.
//
// It knows no FLX table. It must never import the store, federation,
// policy, schema, conformance or the node's HTTP packages.
package migrate
