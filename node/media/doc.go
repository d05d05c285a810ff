// Package media carries recorded video and voice messages between FLX nodes:
// content-addressed blobs bound to the signed media reference of a
// message.deliver envelope, a resumable transfer over the federation's mTLS
// that verifies every chunk against what the origin signed, and range
// streaming of stored media to the caseworker side. The wire is specified in
// conformance/SPEC.md §18 (FLX-MED-*).
//
// # Pieces
//
//   - [Store]: blobs named by their SHA-256, written only whole and verified
//     (Put, or an upload: CreateUpload, WriteUpload at the upload's offset,
//     SyncUpload, CommitUpload), read with a seekable [Blob], erased with
//     Delete (and [Erase] for a blob with its uploads). Two implementations
//     pass one test suite: [Disk] under data_dir (the embedded node) and
//     [Postgres] (replicas sharing one database).
//   - [Ref], [HashList], [Describe]: the transfer fields of a media
//     reference (sha256, size_bytes, chunk_bytes, chunks_sha256) and the
//     chunk hash list that chunks_sha256 commits to.
//   - [Server]: the receiving side, plain net/http handlers under
//     /flx/v1/media/uploads; it takes the authenticated peer and the
//     verification of the offered envelope from injected functions.
//   - [Uploader]: the sending side; resumes from the receiver's offset after
//     a cut, checks its own bytes against the hash list before sending them,
//     and paces itself with a bandwidth cap.
//   - [ServeBlob]: range requests (http.ServeContent) for the local API.
//
// # Why the chunks of the shared store live in PostgreSQL
//
// Replicas already share the database and nothing else. A shared directory
// would add a second piece of shared infrastructure (NFS, a ReadWriteMany
// volume) whose rename and fsync semantics vary and which a Society running
// one small server does not have; its backups would drift from the
// database's. In the database an upload's offset advances with a
// compare-and-set in the transaction that stores the chunk, so any replica
// can continue any upload; a blob appears in the transaction that commits
// it; and erasure can run in the same transaction as the erasure of the
// case. The costs, accepted for the sizes FLX carries (minutes of video, a
// few GiB per peer at most by the limits): database size and WAL volume, and
// a VACUUM after erasure to return space.
//
// # How the node uses it (package node, node/media.go)
//
// Attach (local API): a caseworker system declares a recording (sha256,
// size, type) and writes it with an upload (CreateUpload owned by the
// token, WriteUpload, CommitUpload); the node links the blob to the case
// with its HashList (store table case_media) and, when a message names the
// sha256, fills the reference's size_bytes, chunk_bytes and chunks_sha256
// (Ref.Schema) before the policy runs and the message is signed.
//
// Send (the delivery's sender): before a message.deliver with AttachedRef,
// Uploader.Upload with the signed envelope, the stored HashList and the
// opened Blob, keeping the outbox row's lease; then the envelope. A
// RemoteError for which Retryable is false dead-letters the envelope;
// others are a failed attempt under the usual backoff. One Uploader (one
// Limiter) per destination gives the per-peer bandwidth cap.
//
// Receive: Server is mounted under /flx/v1/media/ on the federation
// listener, with Verify = the receive path's verification without storing.
// The envelope endpoint refuses a message.deliver with AttachedRef until
// Server.Ready holds (409 media_incomplete), so a receipt means the media
// arrived whole and verified; processing links the media to the case.
// Limits.MaxMediaBytes is advertised as limits.max_media_bytes.
//
// Through a relay (SPEC §18.10, node/relaymedia.go): the offer's envelope
// is the relay.forward of the hop; Server reads the message it carries as
// its inner token (Verify has checked the chain) and the upload belongs to
// the hop's sender. Each hop re-sends the same bytes, checked against the
// origin's hash list; the relay erases its copy once the next hop has
// receipted or refused the chain.
//
// Serve (local API): ServeBlob after authorisation and an audit record.
//
// Erase (withdrawal, retention): in the transaction that erases the case,
// Erase(store, sha256) for each media of the case that no other kept link
// references, before the erasure is confirmed.
//
// Tables: media_blobs, media_uploads and media_parts (the Postgres store)
// are created by the node's store migrations (0007_media.sql), which this
// package's tests run too.
//
// Package media must never import the node core (node, node/delivery,
// node/store, node/httpapi, node/cmd/flx) or policy: the node calls it, never
// the reverse. Of FLX it imports schema and federation (identities, problem
// codes) only; gorilla/mux stays in node/httpapi and lib/pq in node/store
// (this package takes a *sql.DB).
package media
