package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/familylinks/flx/node/media"
	"github.com/familylinks/flx/node/store"
)

// MediaSweepResult says what a media sweep removed.
type MediaSweepResult struct {
	// Abandoned: caseworkers' uploads for cases erased (or gone) since.
	Abandoned int `json:"abandoned"`
	// Unclaimed: blobs received whole whose message never arrived (no case
	// links them) before their upload expired; their bytes are erased.
	Unclaimed int `json:"unclaimed"`
	// Expired: uploads untouched for the upload TTL (media.Server.Expire).
	Expired int `json:"expired"`
	// Unfinished: caseworkers' uploads complete but never cleaned and
	// attached (the node stopped between the two) past the TTL; their
	// bytes, the file as uploaded, are erased unless a case links them.
	Unfinished int `json:"unfinished"`
}

// SweepMedia is the media's housekeeping (FLX-MED-013, FLX-MED-014): it
// deletes caseworkers' partial uploads for cases that were erased, erases
// blobs that were received but that no case links once their upload is past
// the TTL (the envelope never came), then expires uploads untouched for the
// TTL. It runs with the retention sweep.
func (n *Node) SweepMedia(ctx context.Context) (MediaSweepResult, error) {
	var r MediaSweepResult
	st := n.media.o.Store
	if st == nil || n.media.server == nil {
		return r, nil
	}
	ups, err := st.Uploads(ctx, "")
	if err != nil {
		return r, fmt.Errorf("node: media sweep: %w", err)
	}
	ttl := n.media.o.Limits.UploadTTL
	if ttl <= 0 {
		ttl = media.DefaultUploadTTL
	}
	cut := n.o.Now().Add(-ttl)
	for _, u := range ups {
		full, err := st.Upload(ctx, u.ID)
		if errors.Is(err, media.ErrNotFound) {
			continue
		}
		if err != nil {
			return r, fmt.Errorf("node: media sweep: %w", err)
		}
		var meta localUploadMeta
		if json.Unmarshal(full.Meta, &meta) == nil && meta.Local {
			c, err := n.o.Store.GetCase(ctx, meta.CaseID)
			abandoned := (err == nil && c.Erased()) || errors.Is(err, store.ErrNotFound)
			if err != nil && !abandoned {
				return r, fmt.Errorf("node: media sweep: %w", err)
			}
			unfinished := !abandoned && u.Complete && u.Updated.Before(cut)
			if !abandoned && !unfinished {
				continue
			}
			// A complete upload's blob is the file as uploaded, metadata
			// and all: it goes with the upload unless a case links the
			// very same bytes.
			if u.Complete {
				inUse, err := n.o.Store.MediaInUse(ctx, u.SHA256.String())
				if err != nil {
					return r, fmt.Errorf("node: media sweep: %w", err)
				}
				if !inUse {
					if err := media.Erase(ctx, st, u.SHA256); err != nil {
						return r, fmt.Errorf("node: media sweep: %w", err)
					}
				}
			}
			if err := st.DeleteUpload(ctx, u.ID); err != nil && !errors.Is(err, media.ErrNotFound) {
				return r, fmt.Errorf("node: media sweep: %w", err)
			}
			if abandoned {
				r.Abandoned++
			} else {
				r.Unfinished++
			}
			continue
		}
		if !u.Complete || !u.Updated.Before(cut) {
			continue
		}
		inUse, err := n.o.Store.MediaInUse(ctx, u.SHA256.String())
		if err != nil {
			return r, fmt.Errorf("node: media sweep: %w", err)
		}
		if !inUse {
			if err := media.Erase(ctx, st, u.SHA256); err != nil {
				return r, fmt.Errorf("node: media sweep: %w", err)
			}
			r.Unclaimed++
		}
	}
	if r.Expired, err = n.media.server.Expire(ctx); err != nil {
		return r, fmt.Errorf("node: media sweep: %w", err)
	}
	if r != (MediaSweepResult{}) {
		n.log.Info("media sweep", "abandoned", r.Abandoned, "unclaimed", r.Unclaimed, "expired", r.Expired, "unfinished", r.Unfinished)
	}
	return r, nil
}
