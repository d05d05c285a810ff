package media

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
)

// Headers of the media wire (after tus 1.0: Upload-Offset, Upload-Length).
const (
	HeaderOffset = "Upload-Offset"
	HeaderLength = "Upload-Length"
	// ContentTypeChunks is the content type of a PATCH body.
	ContentTypeChunks = "application/offset+octet-stream"
	// UploadsPath is where uploads are offered; an upload is
	// UploadsPath + "/" + its id.
	UploadsPath = "/flx/v1/media/uploads"
)

var errBadOffset = errors.New("media: Upload-Offset is a non-negative decimal integer without sign, spaces or leading zeros")

// ParseOffset reads an Upload-Offset or Upload-Length value: ASCII digits
// only, no sign, no leading zero (but "0"), at most 18 digits (fits int64
// with room). Anything else is an error, never a guess.
func ParseOffset(s string) (int64, error) {
	if len(s) == 0 || len(s) > 18 || (len(s) > 1 && s[0] == '0') {
		return 0, errBadOffset
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errBadOffset
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errBadOffset
	}
	return n, nil
}

// offerBody is the JSON of POST /flx/v1/media/uploads.
type offerBody struct {
	// Envelope is the compact JWS of the message.deliver envelope whose
	// body references the media.
	Envelope string `json:"envelope"`
	// ChunkHashes is the hash list (HashList.Bytes), base64url without
	// padding.
	ChunkHashes string `json:"chunk_hashes"`
}

var errBadOffer = errors.New("media: the offer is a JSON object with exactly envelope and chunk_hashes (base64url, unpadded)")

// parseOffer decodes an offer body strictly: exactly the two members, once
// each, strings; canonical unpadded base64url.
func parseOffer(b []byte) (envelope []byte, hashes []byte, err error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || len(raw) != 2 {
		return nil, nil, errBadOffer
	}
	var o offerBody
	for k, v := range raw {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, nil, errBadOffer
		}
		switch k {
		case "envelope":
			o.Envelope = s
		case "chunk_hashes":
			o.ChunkHashes = s
		default:
			return nil, nil, errBadOffer
		}
	}
	if dupKeys(b) {
		return nil, nil, errBadOffer
	}
	h, err := base64.RawURLEncoding.Strict().DecodeString(o.ChunkHashes)
	if err != nil || o.Envelope == "" {
		return nil, nil, errBadOffer
	}
	return []byte(o.Envelope), h, nil
}

// dupKeys reports whether the top-level object of b names a member twice
// (encoding/json keeps the last silently).
func dupKeys(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return true
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return true
		}
		k, _ := t.(string)
		if seen[k] {
			return true
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return true
		}
	}
	return false
}
