package mlflowapi

import (
	"testing"
	"time"
)

func TestArtifactContentHeaders(t *testing.T) {
	for name, want := range map[string]string{
		"a.txt": "text/plain", "MLmodel": "text/plain", "conda.yaml": "text/plain", "x.json": "text/plain",
		"p.PNG": "image/png", "r.html": "text/html", "m.pkl": "application/octet-stream",
		"noext": "application/octet-stream", "w.bin": "application/octet-stream", "d.pdf": "application/pdf",
	} {
		if got := contentType(name); got != want {
			t.Errorf("contentType(%q) = %q; want %q", name, got, want)
		}
	}
	for name, want := range map[string]string{
		"model.pkl":  "attachment; filename=model.pkl",
		"a b.txt":    `attachment; filename="a b.txt"`,
		`q"x.txt`:    `attachment; filename="q\"x.txt"`,
		"résumé.txt": `attachment; filename=rsum.txt; filename*=UTF-8''r%C3%A9sum%C3%A9.txt`,
		"日本語":        `attachment; filename=download; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E`,
		"a;b=c.txt":  `attachment; filename="a;b=c.txt"`,
	} {
		if got := contentDisposition(name); got != want {
			t.Errorf("contentDisposition(%q) = %q; want %q", name, got, want)
		}
	}
}

func TestArtifactCleanURLPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/api/2.0/mlflow-artifacts/artifacts/0/r/a.txt": true,
		"/api/2.0/mlflow-artifacts/artifacts/0/r/":      true,
		"/api/2.0/mlflow-artifacts/artifacts/0/../x":    false,
		"/api/2.0/mlflow-artifacts/artifacts/./x":       false,
		"/api/2.0/mlflow-artifacts/artifacts//x":        false,
		"/api/2.0/mlflow-artifacts/artifacts/a\x00":     false,
	} {
		if got := cleanURLPath(p); got != want {
			t.Errorf("cleanURLPath(%q) = %v; want %v", p, got, want)
		}
	}
}

func TestArtifactPathLocks(t *testing.T) {
	var l pathLocks
	u1 := l.lock("a")
	done := make(chan bool)
	go func() { u := l.lock("a"); u(); done <- true }()
	u2 := l.lock("b") // another path is not blocked
	u2()
	time.Sleep(50 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("a second writer of the same path did not wait")
	default:
	}
	u1()
	<-done
	if len(l.m) != 0 {
		t.Fatalf("locks leak: %v", l.m)
	}
}
