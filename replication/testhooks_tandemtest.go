//go:build tandemtest

package replication

import "io"

// TestHooks holds the fault injectors of a test build.
type TestHooks struct {
	// BlobHook, when set, wraps blob bodies the primary sends (to corrupt
	// them in transit).
	BlobHook func(path string, r io.Reader) io.Reader
}

func (h TestHooks) wrapBlob(path string, r io.Reader) io.Reader {
	if h.BlobHook == nil {
		return r
	}
	return h.BlobHook(path, r)
}
