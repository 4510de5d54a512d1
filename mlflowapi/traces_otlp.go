package mlflowapi

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/otlpspan"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// ExperimentHeader names the experiment OTLP spans are logged to, as the
// stock client's exporter sends it.
const ExperimentHeader = "X-Mlflow-Experiment-Id"

// otlpTraces ingests spans sent as an OTLP/HTTP ExportTraceServiceRequest,
// in protobuf (application/x-protobuf) or JSON (application/json, ids in
// hex as OTLP/JSON writes them), optionally gzip-encoded.
func (s *Server) otlpTraces(w http.ResponseWriter, r *http.Request) {
	exp := r.Header.Get(ExperimentHeader)
	if exp == "" {
		s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "Missing header %s: the experiment to log the spans to.", ExperimentHeader))
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, err := readOTLPBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := decodeOTLP(ct, body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	spans, err := otlpspan.FromRequest(req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Store.LogSpans(r.Context(), exp, spans); err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := &collectortrace.ExportTraceServiceResponse{}
	if ct == "application/json" {
		b, _ := protojson.Marshal(resp)
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
		return
	}
	b, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(b)
}

func readOTLPBody(r *http.Request) ([]byte, error) {
	var src io.Reader = io.LimitReader(r.Body, MaxBodyBytes+1)
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "request body is not valid gzip")
		}
		defer zr.Close()
		src = io.LimitReader(zr, MaxBodyBytes+1)
	}
	b, err := io.ReadAll(src)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "could not read request body")
	}
	if len(b) > MaxBodyBytes {
		return nil, tandem.Errorf(tandem.EINVALID, "request body is larger than %d bytes", MaxBodyBytes)
	}
	return b, nil
}

// decodeOTLP parses an export request in the content type given.
func decodeOTLP(contentType string, body []byte) (*collectortrace.ExportTraceServiceRequest, error) {
	req := &collectortrace.ExportTraceServiceRequest{}
	switch contentType {
	case "application/x-protobuf", "application/protobuf":
		if err := proto.Unmarshal(body, req); err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "Invalid OTLP protobuf request: %v", err)
		}
	case "application/json":
		fixed, err := otlpJSONIDs(body)
		if err != nil {
			return nil, err
		}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(fixed, req); err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "Invalid OTLP JSON request: %v", err)
		}
	default:
		return nil, tandem.Errorf(tandem.EINVALID, "Unsupported Content-Type %q: send application/x-protobuf or application/json.", contentType)
	}
	return req, nil
}

// otlpJSONIDs rewrites the hex trace and span ids of OTLP/JSON as the
// base64 that proto3 JSON has for bytes fields.
func otlpJSONIDs(body []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "Invalid OTLP JSON request: %v", err)
	}
	var walk func(any) error
	walk = func(x any) error {
		switch t := x.(type) {
		case map[string]any:
			for k, val := range t {
				switch k {
				case "traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id":
					if s, ok := val.(string); ok && s != "" {
						b, err := hex.DecodeString(s)
						if err != nil {
							return tandem.Errorf(tandem.EINVALID, "Invalid OTLP JSON request: %s %q is not hex", k, s)
						}
						t[k] = base64.StdEncoding.EncodeToString(b)
					}
					continue
				}
				if err := walk(val); err != nil {
					return err
				}
			}
		case []any:
			for _, e := range t {
				if err := walk(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}
