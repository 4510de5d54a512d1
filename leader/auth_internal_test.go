package leader

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestFailoverEndpointAuth: the failover endpoints accept exactly the
// workspace peer token (compared in constant time) and refuse a wrong,
// a prefix, a longer or a missing one, and every token when none is set.
func TestFailoverEndpointAuth(t *testing.T) {
	for _, tc := range []struct {
		token, header string
		want          int
	}{
		{"s3cret-token", "Bearer s3cret-token", 200},
		{"s3cret-token", "Bearer s3cret-tokeN", 401},
		{"s3cret-token", "Bearer s3cret", 401},
		{"s3cret-token", "Bearer s3cret-token-and-more", 401},
		{"s3cret-token", "s3cret-token", 401},
		{"s3cret-token", "", 401},
		{"", "Bearer ", 401},
	} {
		d := &Runner{token: tc.token}
		h := d.auth(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
		req := httptest.NewRequest("POST", "/api/tandem/v1/failover/promote", nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		rec := httptest.NewRecorder()
		h(rec, req)
		if rec.Code != tc.want {
			t.Errorf("token %q, header %q: %d, want %d", tc.token, tc.header, rec.Code, tc.want)
		}
	}
}
