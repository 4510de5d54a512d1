package region_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/workspace"
)

// partURLs asks for a two-part multipart upload with the given headers
// and returns the part URLs and the presigned download URL handed out.
func partURLs(t *testing.T, h http.Handler, hdr map[string]string) []string {
	req := httptest.NewRequest("POST", "/api/2.0/mlflow-artifacts/mpu/create/0/r/artifacts/big.bin", strings.NewReader(`{"path":"big.bin","num_parts":2}`))
	req.RemoteAddr = "192.0.2.7:4444"
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
		} else if k == "RemoteAddr" {
			req.RemoteAddr = v
		} else {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("mpu create: %d %s", rec.Code, rec.Body)
	}
	var resp struct {
		Credentials []struct {
			URL string `json:"url"`
		} `json:"credentials"`
	}
	json.Unmarshal(rec.Body.Bytes(), &resp)
	var out []string
	for _, c := range resp.Credentials {
		out = append(out, c.URL)
	}
	return out
}

// TestClientURLsIgnoreHostileHeaders: the part URLs of a multipart upload
// point at the region's configured url whatever Host and X-Forwarded-*
// the client sends; forwarded headers count only from trusted_proxies.
func TestClientURLsIgnoreHostileHeaders(t *testing.T) {
	t.Setenv("TANDEM_ORIGIN_PEER_KEY", "origin-test-peer-key-0123456789abcdef")
	ws, err := workspace.Parse([]byte(`workspace: o
primary: east
peer_key: {env: TANDEM_ORIGIN_PEER_KEY}
trusted_proxies: [10.1.0.0/16]
regions:
  - {name: east, url: "https://east.example.test", metadata: "sqlite://x.db", artifacts: "file://x"}
  - {name: west, url: "https://west.example.test", metadata: "sqlite://y.db", artifacts: "file://y"}
`))
	if err != nil {
		t.Fatal(err)
	}
	roles := tandem.NewRoleBox(tandem.RoleState{Role: tandem.RolePrimary, Epoch: 1, Primary: "east"})
	r, err := region.Open(context.Background(), region.Config{Name: "east", MetadataURL: storetest.SQLiteURL(t),
		ArtifactsURL: storetest.FileURL(t), Workspace: ws, Roles: roles})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	hostile := map[string]string{"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"}
	for _, u := range partURLs(t, r.Handler(), hostile) {
		if !strings.HasPrefix(u, "https://east.example.test/api/2.0/mlflow-artifacts/mpu/parts/") {
			t.Fatalf("part URL %q follows the client's headers", u)
		}
	}
	hostile["RemoteAddr"] = "10.1.2.3:5555" // the trusted gateway
	for _, u := range partURLs(t, r.Handler(), hostile) {
		if !strings.HasPrefix(u, "http://evil.example/") {
			t.Fatalf("part URL %q ignores the trusted proxy's X-Forwarded-Host", u)
		}
	}
	if _, err := workspace.Parse([]byte(`workspace: o
primary: east
peer_key: {env: TANDEM_ORIGIN_PEER_KEY}
trusted_proxies: [not-a-cidr]
regions:
  - {name: east, url: "https://east.example.test", metadata: "sqlite://x.db", artifacts: "file://x"}
  - {name: west, url: "https://west.example.test", metadata: "sqlite://y.db", artifacts: "file://y"}
`)); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("bad trusted_proxies: %v", err)
	}
}
