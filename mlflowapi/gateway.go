package mlflowapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/tandemml/tandem"
)

// The MLflow UI's gateway-proxy: with a deployments target configured
// (MLFLOW_DEPLOYMENTS_TARGET, as MLflow's server reads it) the UI's
// prompt lab lists the target's endpoints and invokes one through it;
// without one it is an empty gateway, as on MLflow's server.

// SetDeploymentsTarget sets the deployments server gateway-proxy forwards
// to ("": none).
func (s *Server) SetDeploymentsTarget(url string) { s.deployments = strings.TrimRight(url, "/") }

var invocationsPathRE = regexp.MustCompile(`^gateway/[^/]+/invocations$`)

// gatewayPath checks gateway_path as MLflow does: listing endpoints on a
// GET, invoking one on a POST.
func gatewayPath(method, path string) error {
	p := strings.Trim(path, "/")
	switch {
	case path == "":
		return tandem.Errorf(tandem.EINVALID, "Deployments proxy request must specify a gateway_path.")
	case method == http.MethodGet && p != "api/2.0/endpoints",
		method == http.MethodPost && (!invocationsPathRE.MatchString(p) || strings.Contains(p, "/../") || strings.Contains(p, "/./")):
		return tandem.Errorf(tandem.EINVALID, "Invalid gateway_path: %s for method: %s", path, method)
	}
	return nil
}

func (s *Server) gatewayProxy(r *http.Request) (any, error) {
	if s.deployments == "" {
		return map[string]any{"endpoints": []any{}}, nil // no target: an empty gateway
	}
	var path string
	var data json.RawMessage
	if r.Method == http.MethodGet {
		path = r.URL.Query().Get("gateway_path")
	} else {
		var body struct {
			GatewayPath string          `json:"gateway_path"`
			JSONData    json.RawMessage `json:"json_data"`
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "could not read the request body")
		}
		if len(bytes.TrimSpace(b)) > 0 {
			if err := json.Unmarshal(b, &body); err != nil {
				return nil, tandem.Errorf(tandem.EINVALID, "Malformed request body: %v", err)
			}
		}
		path, data = body.GatewayPath, body.JSONData
	}
	if err := gatewayPath(r.Method, path); err != nil {
		return nil, err
	}
	var rd io.Reader
	if len(data) > 0 && string(data) != "null" {
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, s.deployments+"/"+strings.Trim(path, "/"), rd)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "Invalid gateway_path: %s", path)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "Deployments proxy request failed: %v", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "Deployments proxy request failed with error code %d. Error message: %s", resp.StatusCode, out)
	}
	if !json.Valid(out) {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "Deployments proxy request failed: the target answered no JSON")
	}
	return json.RawMessage(out), nil
}
