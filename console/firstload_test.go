//go:build tandemtest

package console_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/tandemml/tandem/browsertest"
	"github.com/tandemml/tandem/regiontest"
)

// firstLoad opens the console of east in a fresh tab and returns the bytes
// the page transferred (the document, its scripts, styles, icon and the
// API answers it read) and the time until both regions are drawn.
func firstLoad(tb testing.TB, url string) (int64, time.Duration) {
	tb.Helper()
	tab := browsertest.New(tb)
	began := time.Now()
	tab.Do("open the console", chromedp.Navigate(url+"/console/"))
	tab.WaitFor("both regions drawn", time.Minute,
		`!!document.querySelector('[data-region="east"][data-health="ok"]') && !!document.querySelector('[data-region="west"][data-health="ok"]')`)
	took := time.Since(began)
	bytes := browsertest.Eval[float64](tab, `performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource")).reduce((n, e) => n + e.transferSize, 0)`)
	return int64(bytes), took
}

// TestConsoleFirstLoadSize: the console's first load, with every API
// answer it needs to draw the regions, transfers under 300 KB (the issue's
// budget; the time it takes is a benchmark's business).
func TestConsoleFirstLoadSize(t *testing.T) {
	w := regiontest.Start(t, regiontest.Options{})
	if _, err := w.Client(t).WaitElected(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	n, took := firstLoad(t, w.URLs[0])
	t.Logf("console first load: %d bytes, regions drawn after %v", n, took)
	if n <= 0 || n >= 300<<10 {
		t.Fatalf("the console's first load transferred %d bytes, want more than 0 and under 300 KB", n)
	}
}

// BenchmarkConsoleFirstLoad: time from navigation to both regions drawn,
// in a fresh browser each time (go test -tags tandemtest ./console -run
// '^$' -bench ConsoleFirstLoad -benchtime 5x).
func BenchmarkConsoleFirstLoad(b *testing.B) {
	w := regiontest.Start(b, regiontest.Options{})
	if _, err := w.Client(b).WaitElected(context.Background(), time.Minute); err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	var bytes int64
	for b.Loop() {
		n, took := firstLoad(b, w.URLs[0])
		total += took
		bytes = n
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-drawn/op")
	b.ReportMetric(float64(bytes), "bytes/load")
}
