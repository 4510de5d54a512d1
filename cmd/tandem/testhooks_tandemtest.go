//go:build tandemtest

package main

import (
	"io"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/tandemml/tandem/region"
)

// testHooksFromEnv, in a build with the tag tandemtest only, turns on the
// test ops (TANDEM_TEST_OPS=1) and the blob corrupter
// (TANDEM_TEST_CORRUPT_BLOBS=N) for the tests that start this binary.
func testHooksFromEnv(cfg *region.Config) {
	cfg.TestOps = os.Getenv("TANDEM_TEST_OPS") == "1"
	if cfg.TestOps {
		cfg.BlobHook = corruptBlobsHook(os.Getenv("TANDEM_TEST_CORRUPT_BLOBS"))
	}
}

// corruptBlobsHook is a fault injector (TANDEM_TEST_OPS=1 and
// TANDEM_TEST_CORRUPT_BLOBS=N): the first N artifacts this region sends to
// secondaries have one byte flipped, as if corrupted in transit.
func corruptBlobsHook(n string) func(string, io.Reader) io.Reader {
	left, err := strconv.ParseInt(n, 10, 64)
	if err != nil || left <= 0 {
		return nil
	}
	var remaining atomic.Int64
	remaining.Store(left)
	return func(path string, r io.Reader) io.Reader {
		if remaining.Add(-1) < 0 {
			return r
		}
		return &flipFirst{r: r}
	}
}

type flipFirst struct {
	r    io.Reader
	done bool
}

func (f *flipFirst) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if n > 0 && !f.done {
		p[0] ^= 0xff
		f.done = true
	}
	return n, err
}
