// Package auth_test measures what authentication and authorisation cost a
// request (issue 12): go test ./bench/auth -run '^$' -bench AuthCost
package auth_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem/auth"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/storetest"
)

// BenchmarkAuthCost measures create-run and search-runs through a region's
// whole handler chain (in-process, no network) without authentication, with
// a bearer token and with HTTP basic (cached after the first bcrypt check):
// compare the ns/op of the sub-benchmarks for the per-request cost.
func BenchmarkAuthCost(b *testing.B) {
	for _, mode := range []string{"none", "bearer", "basic"} {
		var cfg region.Config
		cfg.MetadataURL, cfg.ArtifactsURL = storetest.SQLiteURL(b), storetest.FileURL(b)
		authz := ""
		if mode != "none" {
			owner, _, err := auth.NewToken("", "", 0, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			cfg.Auth = &region.AuthConfig{BootstrapToken: owner}
			authz = bearer(owner)
		}
		r, err := region.Open(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		h := r.Handler()
		if mode == "basic" {
			req := httptest.NewRequest("POST", "/api/tandem/v1/principals", strings.NewReader(`{"name":"alice","kind":"user","password":"alice-secret-pw"}`))
			req.Header.Set("Authorization", authz)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			req = httptest.NewRequest("POST", "/api/tandem/v1/role-assignments", strings.NewReader(`{"role":"Owner","assignee":"alice"}`))
			req.Header.Set("Authorization", authz)
			h.ServeHTTP(httptest.NewRecorder(), req)
			if w.Code != 200 {
				b.Fatal(w.Body.String())
			}
			authz = basic("alice", "alice-secret-pw")
		}
		send := func(path, body string) {
			req := httptest.NewRequest("POST", path, strings.NewReader(body))
			if authz != "" {
				req.Header.Set("Authorization", authz)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("%s: %d %s", path, w.Code, w.Body.String())
			}
		}
		send("/api/2.0/mlflow/runs/create", `{"experiment_id":"0"}`) // warms the basic cache
		b.Run("create-run/"+mode, func(b *testing.B) {
			for b.Loop() {
				send("/api/2.0/mlflow/runs/create", `{"experiment_id":"0"}`)
			}
		})
		b.Run("search-runs/"+mode, func(b *testing.B) {
			for b.Loop() {
				send("/api/2.0/mlflow/runs/search", `{"experiment_ids":["0"],"max_results":10}`)
			}
		})
		if r.Auth != nil {
			// The middleware alone, around a handler that does nothing:
			// the absolute per-request cost of authn + authz.
			guarded := r.Auth.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			b.Run("middleware-only/"+mode, func(b *testing.B) {
				for b.Loop() {
					req := httptest.NewRequest("POST", "/api/2.0/mlflow/runs/create", strings.NewReader(`{"experiment_id":"0"}`))
					req.Header.Set("Authorization", authz)
					w := httptest.NewRecorder()
					guarded.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatal(w.Code)
					}
				}
			})
		}
		r.Close()
	}
}

func bearer(tok string) string { return "Bearer " + tok }

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}
