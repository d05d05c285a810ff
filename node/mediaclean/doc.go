// Package mediaclean removes the metadata of media containers before their
// bytes leave the node: EXIF, XMP, IPTC and comments of JPEG; text, EXIF and
// time chunks of PNG; udta, meta, uuid and © boxes and the capture times of
// MP4/QuickTime and the samples of its tracks other than video and sound
// (timed metadata: location per frame); the comment headers of Ogg Opus
// and Ogg Vorbis; the tags, attachments, chapters and titles of
// WebM/Matroska; the INFO lists and broadcast extensions of WAV. It reads a
// blob through an io.ReaderAt and writes the cleaned copy to an io.Writer
// in one pass with bounded memory (a 2 GiB video is never held; an MP4's
// moov, at most 64 MiB, is read first), and refuses what it cannot
// parse (ErrMalformed) or does not know (ErrUnsupported): a caller must then
// not send the blob.
//
// What it looks at is the container: pixels, audio and video samples are
// copied as they are (a face, a street sign or a voice is not metadata).
// Each walker keeps the layout where offsets point into the file: MP4 boxes
// are overwritten in place by free boxes of the same size, WebM elements by
// Void elements of the same length, Ogg comment
// packets by packets of the same length (the pages' CRCs recomputed), WAV
// chunks by JUNK chunks of the same size; JPEG segments and PNG chunks are
// dropped.
//
// Report counts what was removed per kind, never the values.
//
// Package mediaclean must never import another FLX package, a network,
// database or logging package: it is a pure function of its input, so that
// the node can run it twice (once to learn the cleaned copy's SHA-256, once
// to store it) and get the same bytes, and so that it can be fuzzed alone.
package mediaclean
