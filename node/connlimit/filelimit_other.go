//go:build !unix

package connlimit

// FileLimit returns 0: this system's limit of open files is not known.
func FileLimit() int { return 0 }
