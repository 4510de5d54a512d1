// Package telemetry is tandem's OpenTelemetry tracing: one tracer provider
// per region (never the process-global one), exporting spans over OTLP/HTTP
// to the endpoint the operator names, and the HTTP middleware and transport
// that carry the W3C trace context through a request, its forwarding from
// a secondary to the primary, and the journal entry it writes (whose
// traceparent the secondary's apply joins: replication/follower.go).
package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/tandemml/tandem"
)

// Config says where a region's spans go.
type Config struct {
	// Endpoint is the OTLP/HTTP base URL of a collector
	// (http://127.0.0.1:4318); spans are posted to Endpoint/v1/traces.
	// Empty: tracing off.
	Endpoint string
	// Region and Workspace name the spans' resource.
	Region    string
	Workspace string
	// SampleRatio of new traces kept (0 < r <= 1); 0 means 1. A request
	// that arrives with a sampled parent is always traced.
	SampleRatio float64
	// Headers are sent with every export (a collector's API key).
	Headers map[string]string
}

// Tracing is one region's tracer provider. The zero value and nil trace
// nothing.
type Tracing struct {
	tp   trace.TracerProvider
	sdk  *sdktrace.TracerProvider
	prop propagation.TextMapPropagator
}

// Off is a Tracing that records nothing.
func Off() *Tracing {
	return &Tracing{tp: noop.NewTracerProvider(), prop: propagation.TraceContext{}}
}

// New starts exporting spans to cfg.Endpoint; with no endpoint it is Off.
func New(ctx context.Context, cfg Config) (*Tracing, error) {
	if cfg.Endpoint == "" {
		return Off(), nil
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "telemetry: otlp_endpoint %q: must be an http:// or https:// URL", cfg.Endpoint)
	}
	if cfg.SampleRatio < 0 || cfg.SampleRatio > 1 {
		return nil, tandem.Errorf(tandem.EINVALID, "telemetry: sample_ratio %v: must be in (0, 1]", cfg.SampleRatio)
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(u.JoinPath("v1", "traces").String())}
	if len(cfg.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: otlp exporter: %w", err)
	}
	ratio := cfg.SampleRatio
	if ratio == 0 {
		ratio = 1
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("tandem"), semconv.ServiceVersion(tandem.Version),
		attribute.String("tandem.region", cfg.Region), attribute.String("tandem.workspace", cfg.Workspace))
	sdk := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Second)),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
	)
	return &Tracing{tp: sdk, sdk: sdk, prop: propagation.TraceContext{}}, nil
}

func (t *Tracing) provider() trace.TracerProvider {
	if t == nil || t.tp == nil {
		return noop.NewTracerProvider()
	}
	return t.tp
}

func (t *Tracing) propagator() propagation.TextMapPropagator {
	if t == nil || t.prop == nil {
		return propagation.TraceContext{}
	}
	return t.prop
}

// Enabled reports whether spans are exported.
func (t *Tracing) Enabled() bool { return t != nil && t.sdk != nil }

// Tracer returns a named tracer of this region.
func (t *Tracing) Tracer(name string) trace.Tracer { return t.provider().Tracer(name) }

// Shutdown flushes spans still buffered and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return t.sdk.Shutdown(ctx)
}

// Handler wraps a region's HTTP surface: a server span per request (the
// child of the caller's, when the request carries a traceparent), and the
// span's traceparent in the request context, where the journal write of
// the request finds it (tandem.WithTraceParent). Off: h itself.
func (t *Tracing) Handler(h http.Handler) http.Handler {
	if !t.Enabled() {
		return h
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if tp := t.TraceParent(ctx); tp != "" {
			ctx = tandem.WithTraceParent(ctx, tp)
		}
		h.ServeHTTP(w, r.WithContext(ctx))
	})
	return otelhttp.NewHandler(inner, "tandem",
		otelhttp.WithTracerProvider(t.provider()), otelhttp.WithPropagators(t.propagator()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }),
		otelhttp.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/health" && r.URL.Path != "/metrics" }))
}

// Transport wraps the transport of a client that calls other regions (the
// forwarding of writes), so the callee's span is a child of the caller's.
// Off: rt itself.
func (t *Tracing) Transport(rt http.RoundTripper) http.RoundTripper {
	if !t.Enabled() {
		return rt
	}
	if rt == nil {
		rt = http.DefaultTransport
	}
	return otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(t.provider()), otelhttp.WithPropagators(t.propagator()))
}

// TraceParent returns the W3C traceparent of the span in ctx, or "" when
// that span is not sampled.
func (t *Tracing) TraceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsSampled() {
		return ""
	}
	c := propagation.MapCarrier{}
	t.propagator().Inject(ctx, c)
	return c.Get("traceparent")
}

// StartFromParent starts a span whose parent is the remote span named by a
// W3C traceparent (a journal entry's): how a secondary's apply joins the
// trace of the write it applies. An empty or malformed traceparent starts
// nothing and returns ctx with a non-recording span.
func (t *Tracing) StartFromParent(ctx context.Context, traceParent, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !t.Enabled() || traceParent == "" {
		return ctx, trace.SpanFromContext(ctx)
	}
	pctx := t.propagator().Extract(ctx, propagation.MapCarrier{"traceparent": traceParent})
	if !trace.SpanContextFromContext(pctx).IsValid() {
		return ctx, trace.SpanFromContext(ctx)
	}
	return t.Tracer("github.com/tandemml/tandem/replication").Start(pctx, name,
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
}
