// Package images benchmarks tandem's image copy between two registries
// against `crane copy` (go-containerregistry's own CLI) of the same image,
// side by side in one run: real CNCF distribution registries on loopback
// (package registrytest), a two-platform index of 4 layers of 16 MiB
// each per platform (128 MiB), a fresh repository for every copy.
//
//	GOBIN=$PWD/.tandem/bin go install github.com/google/go-containerregistry/cmd/crane@v0.22.1
//	go test ./bench/images -run '^$' -bench ImageCopy -benchtime 5x
//
// It reports tandem's and crane's MB/s and their ratio (target: at least
// 0.9). The crane binary comes from TANDEM_CRANE, else .tandem/bin/crane,
// else PATH; without one the benchmark skips.
package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/tandemml/tandem/imagecopy"
	"github.com/tandemml/tandem/registrytest"
)

func crane(b *testing.B) string {
	if p := os.Getenv("TANDEM_CRANE"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	if p := filepath.Join(filepath.Dir(file), "..", "..", ".tandem", "bin", "crane"); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath("crane"); err == nil {
		return p
	}
	b.Skip("no crane: GOBIN=$PWD/.tandem/bin go install github.com/google/go-containerregistry/cmd/crane@v0.22.1")
	return ""
}

func fileExists(p string) bool { st, err := os.Stat(p); return err == nil && !st.IsDir() }

func BenchmarkImageCopy(b *testing.B) {
	bin := crane(b)
	src, dst := registrytest.Start(b), registrytest.Start(b)
	const layers, size = 4, 16 << 20
	idx := registrytest.Index(b, []string{"linux/amd64", "linux/arm64"}, layers, size)
	digest := registrytest.Push(b, src.Host+"/bench/img:1", idx)
	from := src.Host + "/bench/img@" + digest
	bytes := float64(2 * layers * size)
	c := imagecopy.New()
	ctx := context.Background()
	var tandemT, craneT time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Alternate which goes first so neither always meets a warm cache.
		runs := []func(){
			func() {
				t0 := time.Now()
				if err := c.Copy(ctx, from, fmt.Sprintf("%s/t%d/img@%s", dst.Host, i, digest), "", nil); err != nil {
					b.Fatal(err)
				}
				tandemT += time.Since(t0)
			},
			func() {
				t0 := time.Now()
				if out, err := exec.Command(bin, "copy", "--insecure", from, fmt.Sprintf("%s/c%d/img:1", dst.Host, i)).CombinedOutput(); err != nil {
					b.Fatalf("crane copy: %v\n%s", err, out)
				}
				craneT += time.Since(t0)
			},
		}
		if i%2 == 1 {
			runs[0], runs[1] = runs[1], runs[0]
		}
		for _, r := range runs {
			r()
		}
	}
	b.StopTimer()
	tm := bytes * float64(b.N) / tandemT.Seconds() / 1e6
	cm := bytes * float64(b.N) / craneT.Seconds() / 1e6
	b.ReportMetric(tm, "tandem-MB/s")
	b.ReportMetric(cm, "crane-MB/s")
	b.ReportMetric(tm/cm, "ratio")
}
