// Package browsertest drives a real headless Chromium (Debian's
// `chromium`) through the DevTools protocol for tests of the web pages
// tandem serves: finding the browser, a tab that records the page's
// errors, DOM polling, and screenshots checked not to be blank. It is test
// support: only tests import it.
package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tandemml/tandem/testbin"
)

// RequireEnv makes a missing browser a failure instead of a skip (CI sets
// it, so a browser test never passes by not running).
const RequireEnv = "TANDEM_REQUIRE_CHROMIUM"

// Chromium returns the browser to run: $TANDEM_CHROMIUM, else the first of
// chromium, chromium-browser, google-chrome on PATH. Without one the test
// is skipped, or fails when TANDEM_REQUIRE_CHROMIUM=1.
func Chromium(t testing.TB) string {
	t.Helper()
	return testbin.Find(t, testbin.Tool{Name: "Chromium", Env: "TANDEM_CHROMIUM",
		Path:    []string{"chromium", "chromium-browser", "google-chrome"},
		Require: RequireEnv, Hint: "apt-get install chromium chromium-driver"})
}

// Tab is one browser tab with what its pages reported.
type Tab struct {
	Ctx context.Context
	t   testing.TB
	mu  sync.Mutex
	// problems: uncaught exceptions, console and CSP errors, failed
	// requests, as "kind: text (url)".
	problems []string
}

// New starts a headless Chromium (stopped at the test's end) and opens a
// tab 1280x900.
func New(t testing.TB) *Tab {
	t.Helper()
	exe := Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // tests run as root in containers
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	tab := &Tab{Ctx: ctx, t: t}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", exe, err)
	}
	if err := chromedp.Listen(ctx, tab.record); err != nil {
		t.Fatal(err)
	}
	return tab
}

func (tab *Tab) record(ev any) {
	var p string
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		p = fmt.Sprintf("exception: %s (%s:%d)", text, d.URL, d.LineNumber+1)
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError {
			p = fmt.Sprintf("%s error: %s (%s)", e.Entry.Source, e.Entry.Text, e.Entry.URL)
		}
	case *network.EventResponseReceived:
		if e.Response != nil && e.Response.Status >= 400 {
			p = fmt.Sprintf("http %d: %s", e.Response.Status, e.Response.URL)
		}
	case *network.EventLoadingFailed:
		if !e.Canceled {
			p = fmt.Sprintf("request failed: %s (%s)", e.ErrorText, e.RequestID)
		}
	}
	if p != "" {
		tab.mu.Lock()
		tab.problems = append(tab.problems, p)
		tab.mu.Unlock()
	}
}

// Problems returns what the pages reported so far: uncaught exceptions,
// console and security (CSP) errors, answers of 400 and more, failed
// requests.
func (tab *Tab) Problems() []string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	return append([]string(nil), tab.problems...)
}

// Do runs actions, failing the test on an error.
func (tab *Tab) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	if err := chromedp.Do(tab.Ctx, steps...); err != nil {
		tab.t.Fatalf("%s: %v\npage problems: %s", what, err, strings.Join(tab.Problems(), "\n  "))
	}
}

// Eval evaluates a JavaScript expression and returns its value.
func Eval[T any](tab *Tab, expr string) T {
	tab.t.Helper()
	v, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tab.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// Wait polls a JavaScript predicate in the page until it is truthy, for at
// most d, and returns the error of a time out.
func (tab *Tab) Wait(d time.Duration, predicate string) error {
	_, err := chromedp.Run(tab.Ctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(d)))
	return err
}

// Text is the page's visible text (its first n characters).
func (tab *Tab) Text(n int) string {
	text, _ := chromedp.Run(tab.Ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.body ? document.body.innerText.slice(0, %d) : ""`, n)))
	return text
}

// WaitFor polls a JavaScript predicate in the page until it is truthy,
// for at most d; on time out the test fails with what (and the page's
// text and problems, to see why).
func (tab *Tab) WaitFor(what string, d time.Duration, predicate string) {
	tab.t.Helper()
	if err := tab.Wait(d, predicate); err != nil {
		tab.t.Fatalf("waiting for %s: %v\npage text:\n%s\npage problems:\n  %s", what, err, tab.Text(3000), strings.Join(tab.Problems(), "\n  "))
	}
}

// Screenshot saves the page as ROOT/.tandem/test/NAME.png (ROOT: the
// module's folder) and fails the test when the image is blank: fewer than
// 16 distinct colours or a luminance standard deviation under 8 (a page
// that did not draw). It returns the file's path.
func (tab *Tab) Screenshot(name string) string {
	tab.t.Helper()
	buf, err := chromedp.Run(tab.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tab.t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join(ModuleRoot(tab.t), ".tandem", "test")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tab.t.Fatal(err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		tab.t.Fatal(err)
	}
	colours, sd, err := PixelStats(buf)
	if err != nil {
		tab.t.Fatalf("screenshot %s: %v", p, err)
	}
	tab.t.Logf("screenshot %s: %d distinct colours, luminance std-dev %.1f", p, colours, sd)
	if colours < 16 || sd < 8 {
		tab.t.Fatalf("screenshot %s looks blank: %d distinct colours, luminance std-dev %.1f", p, colours, sd)
	}
	return p
}

// PixelStats decodes a PNG and returns its number of distinct colours and
// the standard deviation of its pixels' luminance (0-255).
func PixelStats(pngBytes []byte) (int, float64, error) {
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		return 0, 0, err
	}
	b := img.Bounds()
	if b.Empty() {
		return 0, 0, fmt.Errorf("empty image")
	}
	seen := map[uint32]bool{}
	var n, sum, sumSq float64
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[(r>>8)<<16|(g>>8)<<8|bl>>8] = true
			l := (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(bl)) / 257
			n++
			sum += l
			sumSq += l * l
		}
	}
	mean := sum / n
	return len(seen), math.Sqrt(math.Max(0, sumSq/n-mean*mean)), nil
}

// ModuleRoot is the folder of the go.mod above the test's working
// directory.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}
