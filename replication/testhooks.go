//go:build !tandemtest

package replication

import "io"

// TestHooks holds fault injectors in a build with the tag tandemtest
// (testhooks_tandemtest.go); a release build has none.
type TestHooks struct{}

func (TestHooks) wrapBlob(_ string, r io.Reader) io.Reader { return r }
