// Package cleantest builds small, valid media files with metadata canaries
// planted in every place package mediaclean removes (EXIF, XMP, IPTC,
// comments, PNG text chunks, MP4 udta/meta/uuid/© boxes and times, Ogg
// comment headers, WAV INFO lists), for the tests of the cleaner and of the
// nodes that send media. It is imported by tests only.
//
// Package cleantest must never import another FLX package: the tests of the
// node and of mediaclean both use it.
package cleantest
