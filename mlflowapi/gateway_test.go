package mlflowapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestGatewayProxyToDeploymentsTarget: with a deployments target, the UI's
// gateway-proxy lists its endpoints and invokes one with the request's
// json_data, passing the answer through; a missing or wrong gateway_path
// gets MLflow's 400 and reaches nothing; a failing target is named.
func TestGatewayProxyToDeploymentsTarget(t *testing.T) {
	var seen []string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen = append(seen, r.Method+" "+r.URL.Path+" "+string(b))
		switch r.URL.Path {
		case "/api/2.0/endpoints":
			w.Write([]byte(`{"endpoints":[{"name":"chat","endpoint_type":"llm/v1/chat"}]}`))
		case "/gateway/chat/invocations":
			w.Write([]byte(`{"choices":[{"message":{"content":"hi"}}]}`))
		default:
			http.Error(w, "no such endpoint", 404)
		}
	}))
	t.Cleanup(target.Close)
	e := newEnvs(t)["sqlite"]
	e.api.SetDeploymentsTarget(target.URL + "/")
	srv := e.srv
	call := func(method, query, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/ajax-api/2.0/mlflow/gateway-proxy"+query, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, b := call("GET", "?gateway_path=api/2.0/endpoints", ""); st != 200 || !strings.Contains(b, `"name":"chat"`) {
		t.Fatalf("list: %d %s", st, b)
	}
	if st, b := call("POST", "", `{"gateway_path":"gateway/chat/invocations","json_data":{"messages":[{"role":"user","content":"hello"}]}}`); st != 200 || !strings.Contains(b, `"content":"hi"`) {
		t.Fatalf("invoke: %d %s", st, b)
	}
	if len(seen) != 2 || !strings.Contains(seen[1], `POST /gateway/chat/invocations {"messages":[{"role":"user","content":"hello"}]}`) {
		t.Fatalf("the target got: %q", seen)
	}
	for _, c := range []struct{ method, query, body, want string }{
		{"POST", "", `{}`, "Deployments proxy request must specify a gateway_path."},
		{"GET", "", "", "Deployments proxy request must specify a gateway_path."},
		{"GET", "?gateway_path=gateway/chat/invocations", "", "Invalid gateway_path: gateway/chat/invocations for method: GET"},
		{"POST", "", `{"gateway_path":"api/2.0/endpoints"}`, "Invalid gateway_path: api/2.0/endpoints for method: POST"},
		{"POST", "", `{"gateway_path":"gateway/../invocations"}`, "Invalid gateway_path"},
	} {
		st, b := call(c.method, c.query, c.body)
		var e map[string]string
		json.Unmarshal([]byte(b), &e)
		if st != 400 || e["error_code"] != "INVALID_PARAMETER_VALUE" || !strings.Contains(e["message"], c.want) {
			t.Errorf("%s %s %s: %d %s", c.method, c.query, c.body, st, b)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("a refused request reached the target: %q", seen)
	}
	if st, b := call("POST", "", `{"gateway_path":"gateway/nope/invocations"}`); st < 500 || !strings.Contains(b, "failed with error code 404") {
		t.Fatalf("a failing target: %d %s", st, b)
	}
}
