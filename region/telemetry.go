package region

import (
	"context"
	"os"

	"github.com/tandemml/tandem/telemetry"
)

// openTracing starts the region's tracer provider: the endpoint from
// Config, else the workspace file's telemetry section (which falls back to
// OTEL_EXPORTER_OTLP_ENDPOINT), else tracing is off.
func openTracing(ctx context.Context, cfg Config) (*telemetry.Tracing, error) {
	tc := telemetry.Config{Endpoint: cfg.OTLPEndpoint, Region: cfg.Name}
	if ws := cfg.Workspace; ws != nil {
		tc.Workspace, tc.SampleRatio = ws.Name, ws.Telemetry.SampleRatio
		if tc.Endpoint == "" {
			tc.Endpoint = ws.Telemetry.OTLPEndpoint
		}
	}
	if tc.Endpoint == "" {
		tc.Endpoint = os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	return telemetry.New(ctx, tc)
}
