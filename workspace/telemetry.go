package workspace

import "net/url"

// Telemetry is the telemetry: section: OpenTelemetry traces of every
// region, exported over OTLP/HTTP.
//
//	telemetry:
//	  otlp_endpoint: http://127.0.0.1:4318   # a collector; /v1/traces is appended
//	  sample_ratio: 0.1                      # of new traces (default 1)
//
// Without it, the region falls back to OTEL_EXPORTER_OTLP_ENDPOINT (the
// standard variable; region/telemetry.go); with neither, nothing is traced.
type Telemetry struct {
	OTLPEndpoint string
	SampleRatio  float64
}

type telemetryFile struct {
	OTLPEndpoint string   `yaml:"otlp_endpoint"`
	SampleRatio  *float64 `yaml:"sample_ratio"`
}

func parseTelemetry(f *telemetryFile) (Telemetry, error) {
	t := Telemetry{SampleRatio: 1}
	if f == nil {
		return t, nil
	}
	if f.OTLPEndpoint != "" {
		u, err := url.Parse(f.OTLPEndpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return t, invalid("telemetry.otlp_endpoint", "%q is not an http:// or https:// URL", f.OTLPEndpoint)
		}
		t.OTLPEndpoint = f.OTLPEndpoint
	}
	if f.SampleRatio != nil {
		if *f.SampleRatio <= 0 || *f.SampleRatio > 1 {
			return t, invalid("telemetry.sample_ratio", "%v: must be in (0, 1]", *f.SampleRatio)
		}
		t.SampleRatio = *f.SampleRatio
	}
	return t, nil
}
