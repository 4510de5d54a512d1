package mlflowapi_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/tandemml/tandem/storetest"
)

// BenchmarkArtifactUploadDownload streams a 100 MiB artifact through the
// proxy (PUT, then GET) on a folder store. Run with -bench ArtifactUpload.
func BenchmarkArtifactUploadDownload(b *testing.B) {
	const size = 100 << 20
	e := newArtEnvTB(b, storetest.FileURL(b))
	for _, op := range []string{"upload", "download"} {
		b.Run(op, func(b *testing.B) {
			b.SetBytes(size)
			for i := 0; b.Loop(); i++ {
				url := fmt.Sprintf("%s%s0/bench/artifacts/f%d.bin", e.url, artBase, i%2)
				if op == "upload" {
					req, _ := http.NewRequest("PUT", url, &patternReader{n: size})
					req.ContentLength = size
					resp, err := http.DefaultClient.Do(req)
					if err != nil || resp.StatusCode != 200 {
						b.Fatalf("upload: %v %v", resp, err)
					}
					resp.Body.Close()
				} else {
					resp, err := http.Get(fmt.Sprintf("%s%s0/bench/artifacts/f0.bin", e.url, artBase))
					if err != nil || resp.StatusCode != 200 {
						b.Fatalf("download: %v %v", resp, err)
					}
					if n, _ := io.Copy(io.Discard, resp.Body); n != size {
						b.Fatalf("downloaded %d bytes", n)
					}
					resp.Body.Close()
				}
			}
		})
	}
}
