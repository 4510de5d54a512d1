package gateway

import (
	"net/http/httptest"
	"testing"
)

// TestScoringIsARead: scoring with an online endpoint goes to any healthy
// region and may be sent again; endpoint writes still go to the primary.
func TestScoringIsARead(t *testing.T) {
	for _, c := range []struct {
		method, path  string
		write, scores bool
	}{
		{"POST", "/endpoints/iris-ep/score", false, true},
		{"POST", "/endpoints/iris-ep/invocations", false, true},
		{"GET", "/endpoints/iris-ep/score", false, false},
		{"POST", "/api/tandem/v1/online-endpoints/iris-ep/listKeys", false, false},
		{"POST", "/api/tandem/v1/online-endpoints/iris-ep/regenerateKeys", true, false},
		{"PUT", "/api/tandem/v1/online-endpoints/iris-ep", true, false},
	} {
		r := httptest.NewRequest(c.method, c.path, nil)
		if isWrite(r) != c.write || scoring(r) != c.scores {
			t.Errorf("%s %s: write=%v scoring=%v, want %v %v", c.method, c.path, isWrite(r), scoring(r), c.write, c.scores)
		}
	}
}
