package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/mtls"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node/delivery"
	"github.com/familylinks/flx/node/media"
	"github.com/familylinks/flx/node/mediaclean"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// MediaOptions configure recorded video and voice messages (node/media,
// conformance/SPEC.md §18).
type MediaOptions struct {
	// Store keeps the blobs: media.Disk under data_dir for the embedded
	// node, media.Postgres for replicas sharing PostgreSQL. Nil: the node
	// takes no attached media (such messages are refused with
	// unsupported_kind) and its caseworkers cannot attach any.
	Store media.Store
	// Limits of the receiving side (per message, per peer).
	Limits media.Limits
	// ChunkBytes is the chunk size of media attached here (the chunk_bytes
	// of the signed reference); default 1 MiB.
	ChunkBytes int64
	// BandwidthPerPeer caps what this node sends to each peer, in bytes per
	// second; 0: no cap.
	BandwidthPerPeer int64
	// RequestBytes bounds the body of one upload request (default 64 MiB).
	RequestBytes int64
	// StallTimeout abandons an upload request whose body has not moved for
	// this long (default 2 minutes).
	StallTimeout time.Duration
}

// mediaState is the node's media: the receiving server and the per-peer
// uploaders (one bandwidth limiter each).
type mediaState struct {
	o      MediaOptions
	server *media.Server

	mu        sync.Mutex
	uploaders map[string]*media.Uploader
	endpoints map[string]string
	// clean remembers the blobs known clean (cleaned here, or checked
	// before a push), by sha256 and media type: a blob's bytes never
	// change, so it is not read again at each push, retry or destination.
	clean map[cleanKey]struct{}
}

func (n *Node) initMedia() {
	o := n.o.Media
	if o.ChunkBytes <= 0 {
		o.ChunkBytes = media.DefaultChunkBytes
	}
	ms := &mediaState{o: o, uploaders: map[string]*media.Uploader{}, endpoints: map[string]string{}}
	if o.Store != nil {
		ms.server = &media.Server{Store: o.Store, Verify: n.verifyOffer, Limits: o.Limits, Log: n.log, Now: n.o.Now}
	}
	n.media = ms
}

// MediaHandler is the media wire of the federation listener (SPEC §18:
// UploadsPath and below), to mount behind mtls.Middleware; nil when the
// node has no media store.
func (n *Node) MediaHandler() http.Handler {
	if n.media.server == nil {
		return nil
	}
	return n.media.server
}

// MediaLimits are the receiving side's limits (advertised in the metadata).
func (n *Node) MediaLimits() (media.Limits, bool) {
	if n.media.server == nil {
		return media.Limits{}, false
	}
	l := n.media.o.Limits
	if l.MaxMediaBytes <= 0 {
		l.MaxMediaBytes = media.DefaultMaxMediaBytes
	}
	return l, true
}

// verifyOffer verifies an envelope offered with media as the envelope
// endpoint would (Receive), without storing anything: size, manifest,
// signature and claims (iss the peer, aud this node), accepts, schema,
// roles.
func (n *Node) verifyOffer(ctx context.Context, peer string, raw []byte) (*federation.Envelope, error) {
	if int64(len(raw)) > n.o.MaxBodyBytes {
		return nil, errf(federation.CodeTooLarge, "envelope larger than %d bytes", n.o.MaxBodyBytes)
	}
	if err := n.o.Trust.Usable(); err != nil {
		return nil, problem.Wrap(problem.Unavailable, "this node holds no valid federation manifest", err)
	}
	env, err := n.verifier.Verify(ctx, raw, peer)
	if err != nil {
		return nil, problem.As(err)
	}
	if env.Kind == federation.KindRelayForward {
		return n.verifyRelayOffer(ctx, env) // media through a relay (§18.10)
	}
	if err := n.checkOffered(env); err != nil {
		return nil, err
	}
	return env, nil
}

// checkOffered is what an offer requires of the message envelope it
// carries, its signature checked: accepts, schema, roles.
func (n *Node) checkOffered(env *federation.Envelope) error {
	if self, ok := n.o.Trust.Current().Member(n.o.Self); !ok || !self.AcceptsKind(env.Kind) {
		return errf(federation.CodeUnsupportedKind, "this member does not accept %s", env.Kind)
	}
	docKind, ok := schema.KindForEnvelope(string(env.Kind))
	if !ok {
		return errf(federation.CodeUnsupportedKind, "no schema for kind %s", env.Kind)
	}
	if err := schema.Validate(docKind, env.Body); err != nil {
		var ve *schema.ValidationError
		if errors.As(err, &ve) {
			return &Error{Code: problem.SchemaInvalid, Msg: "body does not conform to schema v1 " + string(docKind), Errors: pointers(ve.Violations)}
		}
		return errf(federation.CodeSchemaInvalid, "body: %v", err)
	}
	if err := checkRoles(env); err != nil {
		return err
	}
	return nil
}

// mediaReady is Receive's check for a message.deliver with attached media:
// the media must be here, whole and verified, before the envelope is
// stored and receipted (FLX-MED-010), so a receipt means the media arrived.
func (n *Node) mediaReady(ctx context.Context, env *federation.Envelope) error {
	if relayedMediaChecked(ctx) {
		return nil // checked against the relay's upload (prepareRelay)
	}
	return n.unlessReceived(ctx, n.mediaReadyFrom(ctx, env, env.Issuer), env)
}

// unlessReceived drops a media_incomplete refusal of an envelope already
// received, stored as stored: its inbox row answers it (duplicate, or replay
// for other bytes: FLX-DLV-009), whatever became of its media since. A
// withdrawal may have erased the media, or a relay erased it once the next
// hop receipted (FLX-MED-018); media_incomplete would have the sender upload
// it again, to a node that would then hold it unlinked.
func (n *Node) unlessReceived(ctx context.Context, err error, stored *federation.Envelope) error {
	if problem.CodeOf(err) != media.CodeMediaIncomplete {
		return err
	}
	if _, ierr := n.o.Store.GetInboxByJTI(ctx, inboxKey(stored.Issuer, stored.JTI)); ierr == nil {
		return nil
	}
	return err
}

// mediaReadyFrom is mediaReady with the media in the upload of member from:
// the envelope's sender, or the relay that sent the last hop of a chain.
func (n *Node) mediaReadyFrom(ctx context.Context, env *federation.Envelope, from string) error {
	ref, ok := media.AttachedRef(env)
	if !ok {
		return nil
	}
	if n.media.server == nil {
		return errf(federation.CodeUnsupportedKind, "this node takes no attached media")
	}
	if ref.Size > n.media.server.Limits.MaxMediaBytes && n.media.server.Limits.MaxMediaBytes > 0 {
		return errf(federation.CodeTooLarge, "media larger than %d bytes", n.media.server.Limits.MaxMediaBytes)
	}
	if err := n.media.server.Ready(ctx, from, ref); err != nil {
		if problem.CodeOf(err) != "" {
			return err
		}
		return internal("media ready", err)
	}
	return nil
}

// linkReceivedMedia records, while a message.deliver is processed, that
// its case holds the attached media it carried (verified on receipt).
func (n *Node) linkReceivedMedia(ctx context.Context, tx store.Tx, it store.InboxItem, claims federation.Claims) error {
	env := &federation.Envelope{Claims: claims}
	ref, ok := media.AttachedRef(env)
	if !ok {
		return nil
	}
	var m struct {
		MessageID string           `json:"message_id"`
		Media     *schema.MediaRef `json:"media"`
	}
	if err := json.Unmarshal(claims.Body, &m); err != nil || m.Media == nil {
		return nil
	}
	_, err := tx.AddMedia(ctx, store.MediaItem{
		CaseID: claims.CaseID, SHA256: ref.SHA256.String(), MediaType: m.Media.MediaType, SizeBytes: ref.Size,
		ChunkBytes: ref.ChunkBytes, ChunksSHA256: ref.ChunksRoot.String(), Direction: store.MediaReceived,
		Peer: it.Iss, MessageID: m.MessageID, AddedBy: it.Iss,
	})
	return err
}

// eraseCaseMedia erases the media of a case inside the transaction that
// erases the case: its links are marked erased and every blob no other
// case still names is deleted, with the uploads that built it and the
// caseworkers' uploads of its bytes for this case, before the
// transaction commits (and so before any confirmation of the erasure is
// queued). A failure rolls the erasure back, to be retried. Uploads of
// the same bytes still under way for other messages stay (media.Erase); the
// case's other uploads go with the media sweep.
func (n *Node) eraseCaseMedia(ctx context.Context, tx store.Tx, actor, caseID string) error {
	orphans, err := tx.EraseCaseMedia(ctx, caseID, n.o.Now())
	if err != nil {
		return err
	}
	if len(orphans) == 0 {
		return nil
	}
	if n.media.o.Store != nil {
		for _, s := range orphans {
			sum, err := media.ParseDigest(s)
			if err != nil {
				continue
			}
			if err := media.EraseWith(ctx, n.media.o.Store, sum, func(u media.UploadState) bool {
				var meta localUploadMeta // a caseworker's upload for the erased case
				return json.Unmarshal(u.Meta, &meta) == nil && meta.Local && meta.CaseID == caseID
			}); err != nil {
				return fmt.Errorf("node: erase media of %s: %w", caseID, err)
			}
		}
	}
	n.log.Info("media erased", "case_id", caseID, "blobs", len(orphans))
	return n.audit(ctx, tx, actor, "media.erase", caseID, map[string]any{"blobs": len(orphans)})
}

// MediaUploadRequest starts the upload of a recording to attach to
// messages of a case (local API).
type MediaUploadRequest struct {
	SHA256    string `json:"sha256"`
	SizeBytes int64  `json:"size_bytes"`
	MediaType string `json:"media_type"`
}

// MediaUpload is the state of a caseworker's upload.
type MediaUpload struct {
	Upload string `json:"upload"` // its id
	CaseID string `json:"case_id"`
	// SHA256 is the declared sha256 while the upload runs; once Complete,
	// the sha256 of the media stored and sent: the copy cleaned of its
	// metadata, which messages reference.
	SHA256 string `json:"sha256"`
	// DeclaredSHA256 is the sha256 the caller declared (of what it
	// uploaded).
	DeclaredSHA256 string           `json:"declared_sha256"`
	Offset         int64            `json:"offset"`
	Length         int64            `json:"length"`
	Complete       bool             `json:"complete"`
	Cleaned        *MediaCleaned    `json:"cleaned,omitempty"`
	Media          *store.MediaItem `json:"-"`
}

// MediaCleaned says what cleaning took out of an upload: counts per kind
// of metadata (exif, xmp, user_data, tags, ...), never the values.
type MediaCleaned struct {
	SizeBytes int64          `json:"size_bytes"` // of the cleaned copy
	Removed   map[string]int `json:"removed"`
}

// completed marks up complete with media m, cleaned with rep.
func (up *MediaUpload) completed(m store.MediaItem, rep mediaclean.Report) {
	up.Complete, up.Media, up.SHA256 = true, &m, m.SHA256
	up.Offset = up.Length
	removed := rep.Removed
	if removed == nil {
		removed = map[string]int{}
	}
	up.Cleaned = &MediaCleaned{SizeBytes: m.SizeBytes, Removed: removed}
}

var mediaTypeRE = regexp.MustCompile(`^[a-z]+/[a-z0-9][a-z0-9.+-]{0,126}$`)

// localUploadMeta is what a local upload keeps beside its bytes.
type localUploadMeta struct {
	Local     bool   `json:"local"`
	CaseID    string `json:"case_id"`
	MediaType string `json:"media_type"`
}

func (n *Node) mediaStore() (media.Store, error) {
	if n.media.o.Store == nil {
		return nil, errf(CodeUnavailable, "this node has no media store")
	}
	return n.media.o.Store, nil
}

// StartMediaUpload starts (or finds again) the resumable upload of a
// recording for case caseID: the caller declares its SHA-256, size and
// media type, then writes the bytes with WriteMediaUpload from the offset
// returned. When the blob is already here the recording is attached at
// once (Complete).
func (n *Node) StartMediaUpload(ctx context.Context, a Actor, caseID string, r MediaUploadRequest) (MediaUpload, error) {
	st, err := n.mediaStore()
	if err != nil {
		return MediaUpload{}, err
	}
	if _, err := n.caseForSending(ctx, caseID); err != nil {
		return MediaUpload{}, err
	}
	sum, err := media.ParseDigest(r.SHA256)
	switch {
	case err != nil:
		return MediaUpload{}, errf(CodeBadRequest, "sha256 must be 64 lowercase hexadecimal characters")
	case !mediaTypeRE.MatchString(r.MediaType):
		return MediaUpload{}, errf(CodeBadRequest, "media_type must be a type/subtype in lower case")
	case r.SizeBytes < 1:
		return MediaUpload{}, errf(CodeBadRequest, "size_bytes must be at least 1")
	case !mediaclean.Supported(r.MediaType):
		return MediaUpload{}, notCleanable(r.MediaType, mediaclean.ErrUnsupported)
	}
	lim, _ := n.MediaLimits()
	if r.SizeBytes > lim.MaxMediaBytes {
		return MediaUpload{}, errf(problem.TooLarge, "media larger than %d bytes", lim.MaxMediaBytes)
	}
	if n.media.o.ChunkBytes*int64(media.MaxChunks) < r.SizeBytes {
		return MediaUpload{}, errf(problem.TooLarge, "media too large for chunks of %d bytes", n.media.o.ChunkBytes)
	}
	id := media.Sum(fmt.Appendf(nil, "flx/1 local media upload\x00%s\x00%s\x00%s\x00%d", a.Name, caseID, sum, r.SizeBytes))
	up := MediaUpload{Upload: id.String(), CaseID: caseID, SHA256: sum.String(), DeclaredSHA256: sum.String(), Length: r.SizeBytes}
	if m, err := n.o.Store.GetCaseMedia(ctx, caseID, sum.String(), store.MediaAttached); err == nil {
		if info, err := st.Stat(ctx, sum); err == nil && info.Size == r.SizeBytes {
			up.completed(m, mediaclean.Report{}) // attached media is clean already
			return up, nil
		}
	}
	if info, err := st.Stat(ctx, sum); err == nil {
		if info.Size != r.SizeBytes {
			return MediaUpload{}, errf(problem.MediaMismatch, "a blob with this sha256 has another size")
		}
		// Bytes held here already (received from a peer, say) are
		// attached as their cleaned copy; the blob itself stays.
		m, rep, err := n.cleanAndAttach(ctx, a, caseID, sum, r.MediaType, false)
		if err != nil {
			return MediaUpload{}, err
		}
		up.completed(m, rep)
		return up, nil
	}
	meta, _ := json.Marshal(localUploadMeta{Local: true, CaseID: caseID, MediaType: r.MediaType})
	us, _, err := st.CreateUpload(ctx, id, "local:"+a.Name, media.Expect{SHA256: sum, Size: r.SizeBytes}, meta)
	switch {
	case errors.Is(err, media.ErrNoSpace):
		return MediaUpload{}, errf(problem.InsufficientStorage, "no space for this media now")
	case err != nil:
		return MediaUpload{}, internal("create media upload", err)
	}
	up.Offset = us.Offset
	return up, nil
}

// localUpload loads a caseworker's upload; another caseworker's does not
// exist for this one.
func (n *Node) localUpload(ctx context.Context, a Actor, uploadID string) (media.Store, media.UploadState, localUploadMeta, error) {
	var meta localUploadMeta
	st, err := n.mediaStore()
	if err != nil {
		return nil, media.UploadState{}, meta, err
	}
	id, err := media.ParseDigest(uploadID)
	if err != nil {
		return nil, media.UploadState{}, meta, errf(CodeNotFound, "no such upload")
	}
	us, err := st.Upload(ctx, id)
	if errors.Is(err, media.ErrNotFound) || (err == nil && us.Owner != "local:"+a.Name) {
		return nil, us, meta, errf(CodeNotFound, "no such upload")
	}
	if err != nil {
		return nil, us, meta, internal("media upload", err)
	}
	if json.Unmarshal(us.Meta, &meta) != nil || !meta.Local {
		return nil, us, meta, errf(CodeNotFound, "no such upload")
	}
	return st, us, meta, nil
}

// MediaUploadState returns where a caseworker's upload stands (to resume).
func (n *Node) MediaUploadState(ctx context.Context, a Actor, uploadID string) (MediaUpload, error) {
	_, us, meta, err := n.localUpload(ctx, a, uploadID)
	if err != nil {
		return MediaUpload{}, err
	}
	return MediaUpload{Upload: uploadID, CaseID: meta.CaseID, SHA256: us.SHA256.String(), DeclaredSHA256: us.SHA256.String(),
		Offset: us.Offset, Length: us.Size, Complete: us.Complete}, nil
}

// localPiece is how much of a local upload is written at once.
const localPiece = 1 << 20

// WriteMediaUpload appends body to a caseworker's upload at off, which must
// be the upload's offset (offset_mismatch otherwise, with the offset to
// resume from). What arrived before the body broke off is kept: the
// result's Offset says where to resume. Once every byte is written the
// SHA-256 is checked (media_mismatch: the upload is dropped) and the
// recording is attached to the case (audited "media.attach"). touch is
// called before each piece is read (the HTTP layer extends its deadlines).
func (n *Node) WriteMediaUpload(ctx context.Context, a Actor, uploadID string, off int64, body io.Reader, touch func()) (MediaUpload, error) {
	st, us, meta, err := n.localUpload(ctx, a, uploadID)
	if err != nil {
		return MediaUpload{}, err
	}
	up := MediaUpload{Upload: uploadID, CaseID: meta.CaseID, SHA256: us.SHA256.String(), DeclaredSHA256: us.SHA256.String(),
		Offset: us.Offset, Length: us.Size}
	if off != us.Offset {
		return up, &Error{Code: problem.OffsetMismatch, Msg: fmt.Sprintf("the upload is at offset %d", us.Offset)}
	}
	wctx := context.WithoutCancel(ctx) // a client gone must not cost the bytes written
	if us.Complete {
		// Committed, but the node stopped before it was cleaned and
		// attached: finish now.
		return n.finishMediaUpload(wctx, a, st, us, meta, up)
	}
	buf := make([]byte, localPiece)
	synced, broke := off, false
	lim, _ := n.MediaLimits()
	syncEvery := lim.SyncBytes
	if syncEvery <= 0 {
		syncEvery = media.DefaultSyncBytes
	}
	for off < us.Size {
		if touch != nil {
			touch()
		}
		k, rerr := io.ReadFull(body, buf[:min(int64(len(buf)), us.Size-off)])
		if k > 0 {
			next, werr := st.WriteUpload(wctx, us.ID, off, buf[:k])
			var oe *media.OffsetError
			switch {
			case errors.As(werr, &oe):
				up.Offset = oe.Offset
				return up, &Error{Code: problem.OffsetMismatch, Msg: fmt.Sprintf("the upload is at offset %d", oe.Offset)}
			case errors.Is(werr, media.ErrNoSpace):
				_ = st.SyncUpload(wctx, us.ID)
				return up, errf(problem.InsufficientStorage, "no space for this media now")
			case werr != nil:
				return up, internal("write media upload", werr)
			}
			off = next
			up.Offset = off
			if off-synced >= syncEvery {
				if err := st.SyncUpload(wctx, us.ID); err != nil {
					return up, internal("sync media upload", err)
				}
				synced = off
			}
		}
		if rerr != nil {
			broke = off < us.Size
			break
		}
	}
	if off < us.Size || broke {
		if err := st.SyncUpload(wctx, us.ID); err != nil {
			return up, internal("sync media upload", err)
		}
		if broke {
			return up, &Error{Code: problem.RequestTimeout, Msg: fmt.Sprintf("the body ended at offset %d of %d; resume from there", off, us.Size)}
		}
		return up, nil
	}
	// Anything past the declared length is refused, the declared bytes kept.
	var one [1]byte
	if k, _ := body.Read(one[:]); k > 0 {
		_ = st.SyncUpload(wctx, us.ID)
		return up, errf(problem.TooLarge, "the body goes past the declared size_bytes")
	}
	if err := st.SyncUpload(wctx, us.ID); err != nil {
		return up, internal("sync media upload", err)
	}
	if _, err := st.CommitUpload(wctx, us.ID); err != nil {
		if errors.Is(err, media.ErrMismatch) {
			_ = st.DeleteUpload(wctx, us.ID)
			up.Offset = 0
			return up, errf(problem.MediaMismatch, "the bytes do not hash to the declared sha256: the upload was dropped")
		}
		if errors.Is(err, media.ErrNoSpace) {
			return up, errf(problem.InsufficientStorage, "no space for this media now")
		}
		return up, internal("commit media upload", err)
	}
	return n.finishMediaUpload(wctx, a, st, us, meta, up)
}

// finishMediaUpload cleans a committed upload's blob and attaches the
// cleaned copy; the upload and the original go once the copy is linked.
// Refused (media_not_cleanable): the upload and its blob are deleted.
func (n *Node) finishMediaUpload(ctx context.Context, a Actor, st media.Store, us media.UploadState, meta localUploadMeta, up MediaUpload) (MediaUpload, error) {
	if _, err := st.Stat(ctx, us.SHA256); errors.Is(err, media.ErrNotFound) {
		// Finished by a request that ran meanwhile (the original is gone
		// once its copy is attached), or erased.
		_ = st.DeleteUpload(ctx, us.ID)
		up.Offset = 0
		return up, errf(CodeConflict, "this upload was finished or dropped meanwhile: list the case's media, or upload again")
	}
	m, rep, err := n.cleanAndAttach(ctx, a, meta.CaseID, us.SHA256, meta.MediaType, true)
	if err != nil {
		if problem.CodeOf(err) == problem.MediaNotCleanable {
			_ = st.DeleteUpload(ctx, us.ID)
			up.Offset = 0
		}
		return up, err
	}
	_ = st.DeleteUpload(ctx, us.ID)
	up.completed(m, rep)
	n.log.Info("media cleaned", "case_id", meta.CaseID, "sha256", m.SHA256, "removed", rep.String())
	return up, nil
}

// attachBlob links a complete blob to a case as attached media, with the
// chunk hash list its messages' references will commit to.
// declared is the sha256 of what was uploaded, rep what cleaning removed
// (both audited, as hashes and counts).
func (n *Node) attachBlob(ctx context.Context, a Actor, caseID string, sum media.Digest, mediaType string, declared media.Digest, rep mediaclean.Report) (store.MediaItem, error) {
	st, err := n.mediaStore()
	if err != nil {
		return store.MediaItem{}, err
	}
	b, err := st.Open(ctx, sum)
	if err != nil {
		return store.MediaItem{}, internal("open media", err)
	}
	ref, hashes, err := media.Describe(io.NewSectionReader(b, 0, b.Size()), n.media.o.ChunkBytes)
	b.Close()
	if err != nil {
		return store.MediaItem{}, internal("describe media", err)
	}
	if ref.SHA256 != sum {
		return store.MediaItem{}, internal("describe media", fmt.Errorf("blob %s hashes to %s", sum, ref.SHA256))
	}
	var m store.MediaItem
	err = n.o.Store.Tx(ctx, func(tx store.Tx) error {
		c, err := tx.GetCase(ctx, caseID)
		if err != nil {
			return err
		}
		if c.Erased() {
			return errf(CodeErased, "case %s was erased", caseID)
		}
		if m, err = tx.AddMedia(ctx, store.MediaItem{
			CaseID: caseID, SHA256: sum.String(), MediaType: mediaType, SizeBytes: ref.Size, ChunkBytes: ref.ChunkBytes,
			ChunksSHA256: ref.ChunksRoot.String(), ChunkHashes: hashes.Bytes(), Direction: store.MediaAttached, AddedBy: a.Name,
			DeclaredSHA256: declared.String(),
		}); err != nil {
			return err
		}
		detail := map[string]any{"sha256": sum.String(), "size_bytes": ref.Size, "media_type": mediaType, "removed": rep.Removed}
		if declared != sum {
			detail["declared_sha256"] = declared.String()
		}
		return n.audit(ctx, tx, a.Name, "media.attach", caseID, detail)
	})
	if err != nil {
		if problem.CodeOf(err) != "" {
			return store.MediaItem{}, err
		}
		return store.MediaItem{}, internal("attach media", err)
	}
	n.log.Info("media attached", "case_id", caseID, "sha256", sum.String(), "size", ref.Size)
	return m, nil
}

// CaseMedia is one media of a case as the local API lists it.
type CaseMedia struct {
	SHA256       string    `json:"sha256"`
	MediaType    string    `json:"media_type"`
	SizeBytes    int64     `json:"size_bytes"`
	ChunkBytes   int64     `json:"chunk_bytes"`
	ChunksSHA256 string    `json:"chunks_sha256"`
	Direction    string    `json:"direction"` // attached | received
	From         string    `json:"from,omitempty"`
	MessageID    string    `json:"message_id,omitempty"`
	AddedAt      time.Time `json:"added_at"`
	Available    bool      `json:"available"` // the bytes are here, verified
	Erased       bool      `json:"erased,omitempty"`
}

// ListCaseMedia lists the media of a case: attached here and received.
func (n *Node) ListCaseMedia(ctx context.Context, caseID string) ([]CaseMedia, error) {
	items, err := n.o.Store.ListCaseMedia(ctx, caseID)
	if err != nil {
		return nil, internal("list media", err)
	}
	out := make([]CaseMedia, 0, len(items))
	for _, m := range items {
		cm := CaseMedia{SHA256: m.SHA256, MediaType: m.MediaType, SizeBytes: m.SizeBytes, ChunkBytes: m.ChunkBytes,
			ChunksSHA256: m.ChunksSHA256, Direction: m.Direction, From: m.Peer, MessageID: m.MessageID, AddedAt: m.CreatedAt, Erased: m.Erased()}
		if !m.Erased() && n.media.o.Store != nil {
			if sum, err := media.ParseDigest(m.SHA256); err == nil {
				_, serr := n.media.o.Store.Stat(ctx, sum)
				cm.Available = serr == nil
			}
		}
		out = append(out, cm)
	}
	return out, nil
}

// OpenCaseMedia authorises a read of media sha256 of case caseID and audits
// it ("media.read"): it returns the store to stream it from and its media
// type. not_found unless the case holds that media, not erased.
func (n *Node) OpenCaseMedia(ctx context.Context, a Actor, caseID, sha256 string) (media.Store, media.Digest, string, error) {
	st, err := n.mediaStore()
	if err != nil {
		return nil, media.Digest{}, "", err
	}
	sum, err := media.ParseDigest(sha256)
	if err != nil {
		return nil, sum, "", errf(CodeNotFound, "no such media")
	}
	m, err := n.o.Store.GetCaseMedia(ctx, caseID, sum.String(), "")
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, sum, "", errf(CodeNotFound, "no such media in case %s", caseID)
	case err != nil:
		return nil, sum, "", internal("get media", err)
	}
	if err := n.o.Store.Tx(ctx, func(tx store.Tx) error {
		return n.audit(ctx, tx, a.Name, "media.read", caseID, map[string]any{"sha256": m.SHA256})
	}); err != nil {
		return nil, sum, "", internal("audit media read", err)
	}
	return st, sum, m.MediaType, nil
}

// attachToMessage completes the media reference of a message about caseID
// from a recording attached to the case: size_bytes, chunk_bytes and
// chunks_sha256 come from the stored blob, so what is signed binds its
// bytes. A reference that names the sha256 of an upload (the file as the
// caseworker's client hashed it) names its cleaned copy instead, with the
// copy's size and chunk fields: the node attached only that copy, and the
// caseworker means the recording they uploaded. A message whose media is
// not attached here stays a reference only, unless it carries chunk fields
// (then it must be attached, and agree).
func (n *Node) attachToMessage(ctx context.Context, caseID string, doc []byte) ([]byte, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(doc, &raw); err != nil || raw["media"] == nil {
		return doc, nil
	}
	var ref schema.MediaRef
	if err := json.Unmarshal(raw["media"], &ref); err != nil {
		return doc, nil // schema validation reports it
	}
	m, err := n.o.Store.GetCaseMedia(ctx, caseID, ref.SHA256, store.MediaAttached)
	cleaned := false
	if errors.Is(err, store.ErrNotFound) {
		var byOrigin store.MediaItem
		if byOrigin, err = n.o.Store.GetCaseMediaByOrigin(ctx, caseID, ref.SHA256); err == nil {
			// The client's size and chunk fields, if any, were the upload's.
			m, cleaned = byOrigin, true
			ref.SHA256, ref.SizeBytes, ref.ChunkBytes, ref.ChunksSHA256 = m.SHA256, 0, 0, ""
		}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		if ref.ChunkBytes != 0 || ref.ChunksSHA256 != "" {
			return nil, errf(CodeBadRequest, "the media %s is not attached to case %s: upload it first", ref.SHA256, caseID)
		}
		return doc, nil
	case err != nil:
		return nil, internal("get media", err)
	}
	if (ref.SizeBytes != 0 && ref.SizeBytes != m.SizeBytes) || (ref.ChunkBytes != 0 && ref.ChunkBytes != m.ChunkBytes) ||
		(ref.ChunksSHA256 != "" && ref.ChunksSHA256 != m.ChunksSHA256) {
		return nil, errf(CodeBadRequest, "the media reference disagrees with the attached media %s", ref.SHA256)
	}
	if n.media.o.Store == nil {
		return nil, errf(CodeUnavailable, "this node has no media store")
	}
	ref.SizeBytes, ref.ChunkBytes, ref.ChunksSHA256 = m.SizeBytes, m.ChunkBytes, m.ChunksSHA256
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(raw["media"], &fields)
	for k, v := range map[string]any{"size_bytes": ref.SizeBytes, "chunk_bytes": ref.ChunkBytes, "chunks_sha256": ref.ChunksSHA256} {
		fields[k], _ = json.Marshal(v)
	}
	if cleaned {
		fields["sha256"], _ = json.Marshal(ref.SHA256)
	}
	raw["media"], _ = json.Marshal(fields)
	return json.Marshal(raw)
}

// mediaSender is the delivery's wire with media: before a message.deliver
// whose signed reference has attached media, it pushes the media to the
// destination (resuming from what the receiver holds), then sends the
// envelope. The receiver refuses the envelope until the media is whole and
// verified, so the receipt covers the media too.
type mediaSender struct {
	n    *Node
	next delivery.Sender
}

func (s mediaSender) Send(ctx context.Context, to string, envelope []byte) federation.Result {
	if err := s.n.pushMedia(ctx, to, envelope); err != nil {
		return mediaFailure(err)
	}
	return s.next.Send(ctx, to, envelope)
}

func mediaFailure(err error) federation.Result {
	var re *media.RemoteError
	if errors.As(err, &re) {
		out := federation.Retry
		if !re.Code.Retryable() {
			out = federation.Permanent
		}
		return federation.Result{Outcome: out, Code: re.Code, Status: re.Status, RetryAfter: re.RetryAfter,
			Reason: "media: " + string(re.Code) + ": " + re.Detail}
	}
	var pe *Error
	if errors.As(err, &pe) && !pe.Code.Retryable() {
		return federation.Result{Outcome: federation.Permanent, Code: pe.Code, Reason: "media: " + pe.Error()}
	}
	return federation.Result{Outcome: federation.Retry, Reason: "media: " + err.Error()}
}

// pushMedia uploads the attached media of a message.deliver envelope to
// its destination; nil for anything else.
func (n *Node) pushMedia(ctx context.Context, to string, envelope []byte) error {
	c, err := federation.ClaimsOf(envelope)
	return n.pushMediaOf(ctx, to, envelope, c, err)
}

// pushMediaOf is pushMedia with the claims of envelope already read: c and
// err are what federation.ClaimsOf returned.
func (n *Node) pushMediaOf(ctx context.Context, to string, envelope []byte, c federation.Claims, err error) error {
	if err == nil && c.Kind == federation.KindRelayForward {
		return n.pushRelayMedia(ctx, envelope, c)
	}
	if err != nil || c.Kind != federation.KindMessageDeliver {
		return nil
	}
	ref, ok := media.AttachedRef(&federation.Envelope{Claims: c})
	if !ok {
		return nil
	}
	if n.media.o.Store == nil {
		return errf(CodeUnavailable, "this node has no media store")
	}
	hashes, err := n.attachedHashes(ctx, c.CaseID, ref)
	if err != nil {
		return err
	}
	m, err := n.o.Store.GetCaseMedia(ctx, c.CaseID, ref.SHA256.String(), store.MediaAttached)
	if err != nil {
		return errf(CodeErased, "the media of this message is no longer here")
	}
	b, err := n.openSent(ctx, ref)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := n.checkCleanOnce(b, ref.SHA256, m.MediaType); err != nil {
		return err
	}
	return n.uploadMedia(ctx, to, c.JTI, envelope, ref, hashes, b)
}

// openSent opens the recording ref names, to be sent: CodeUnavailable
// without a media store, CodeErased when it is no longer held.
func (n *Node) openSent(ctx context.Context, ref media.Ref) (media.Blob, error) {
	st := n.media.o.Store
	if st == nil {
		return nil, errf(CodeUnavailable, "this node has no media store")
	}
	b, err := st.Open(ctx, ref.SHA256)
	if errors.Is(err, media.ErrNotFound) {
		return nil, errf(CodeErased, "the media of this message is no longer here")
	}
	return b, err
}

// uploadMedia offers envelope with its media to member to and uploads the
// bytes of b, keeping the lease of the outbox row named jti meanwhile.
func (n *Node) uploadMedia(ctx context.Context, to, jti string, envelope []byte, ref media.Ref, hashes media.HashList, b media.Blob) error {
	up, err := n.uploader(to)
	if err != nil {
		return err
	}
	// Keep the outbox row's lease while the media is on the wire.
	lease := n.o.Delivery.Lease
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		t := time.NewTicker(max(lease/3, time.Second))
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
				if err := n.o.Store.ExtendLease(pctx, jti, n.o.Instance, n.o.Now().Add(lease)); err != nil && pctx.Err() == nil {
					n.log.Info("media push lost its outbox lease; stopping", "jti", jti, "to", to)
					cancel()
					return
				}
			}
		}
	}()
	res, err := up.Upload(pctx, envelope, ref, hashes, b)
	if err != nil {
		if errors.Is(err, media.ErrLocalMismatch) {
			return errf(problem.MediaMismatch, "the local media does not match its signed chunk hashes")
		}
		return err
	}
	n.log.Info("media pushed", "to", to, "jti", jti, "sha256", ref.SHA256.String(), "size", ref.Size,
		"requests", res.Requests, "resumes", res.Resumes)
	return nil
}

// uploader returns the uploader of destination to (one bandwidth limiter
// per peer), made again when its endpoint changes in the manifest.
func (n *Node) uploader(to string) (*media.Uploader, error) {
	mb, ok := n.o.Trust.Current().Member(to)
	if !ok {
		return nil, errf(CodeUnknownMember, "%q is not a member of the federation", to)
	}
	ms := n.media
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if u := ms.uploaders[to]; u != nil && ms.endpoints[to] == mb.Endpoint {
		return u, nil
	}
	hc := mtls.NewClient(n.o.TLS, n.o.Trust.Directory(), to, 0)
	// HTTP/1.1: an upload has a connection of its own (a stalled transfer
	// is its connection's, and it shares no flow control with envelopes).
	hc.Transport.(*http.Transport).ForceAttemptHTTP2 = false
	u := &media.Uploader{
		Client:       hc,
		Endpoint:     mb.Endpoint,
		RequestBytes: ms.o.RequestBytes,
		Limiter:      media.NewLimiter(ms.o.BandwidthPerPeer),
		StallTimeout: ms.o.StallTimeout,
		Log:          n.log,
	}
	if old := ms.uploaders[to]; old != nil {
		u.Limiter = old.Limiter
	}
	ms.uploaders[to], ms.endpoints[to] = u, mb.Endpoint
	return u, nil
}
