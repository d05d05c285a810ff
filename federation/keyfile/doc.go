// Package keyfile writes and reads the files a node keeps its keys,
// certificates and credentials in: a file is written new (never over an
// existing one), whole and synced, or not at all; a private file is read only
// when neither group nor others may access it.
//
// It depends on the standard library only and must never import an FLX
// package: jose, devca and the administration commands all use it.
package keyfile
