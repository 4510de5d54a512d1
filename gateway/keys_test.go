package gateway

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAmbiguousKeys(t *testing.T) {
	t0 := time.Now()
	a := newAmbiguous(time.Minute, 3)
	a.put("f1", "k1", t0)
	if a.get("f1", t0.Add(time.Minute)) != "k1" || a.get("f2", t0) != "" {
		t.Fatal("get")
	}
	if a.get("f1", t0.Add(time.Minute+1)) != "" {
		t.Fatal("kept past its time")
	}
	a.put("f2", "k2", t0.Add(time.Second))
	a.put("f3", "k3", t0.Add(2*time.Second))
	a.put("f4", "k4", t0.Add(3*time.Second)) // over the count: f1 goes
	if a.len() != 3 || a.get("f1", t0) != "" || a.get("f4", t0) != "k4" {
		t.Fatalf("count bound: %d", a.len())
	}
	a.put("f5", "k5", t0.Add(2*time.Minute)) // sweeps the ones past their time
	if a.len() != 1 || a.get("f5", t0.Add(2*time.Minute)) != "k5" {
		t.Fatalf("time bound: %d", a.len())
	}
	a.drop("f5")
	if a.len() != 0 {
		t.Fatal("drop")
	}
	for i := range 100 { // drops do not let the queue grow without bound
		a.put("g", "k", t0.Add(3*time.Minute))
		a.drop("g")
		_ = i
	}
	if len(a.fifo) > 2*a.max+1 {
		t.Fatalf("queue of %d", len(a.fifo))
	}
}

func TestFingerprint(t *testing.T) {
	req := func(addr, auth, body string) string {
		r := httptest.NewRequest("POST", "/api/2.0/mlflow/runs/create", strings.NewReader(body))
		r.RemoteAddr = addr
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		return fingerprint(r, []byte(body))
	}
	base := req("10.0.0.1:4000", "Bearer x", `{"a":1}`)
	if req("10.0.0.1:5000", "Bearer x", `{"a":1}`) != base {
		t.Fatal("a retry on a new connection must match")
	}
	for _, other := range []string{req("10.0.0.2:4000", "Bearer x", `{"a":1}`), req("10.0.0.1:4000", "Bearer y", `{"a":1}`),
		req("10.0.0.1:4000", "Bearer x", `{"a":2}`)} {
		if other == base {
			t.Fatal("different writes share a fingerprint")
		}
	}
	if strings.Contains(base, "Bearer") || newKey() == newKey() {
		t.Fatal("fingerprint or key")
	}
}

func (a *ambiguous) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.m)
}
