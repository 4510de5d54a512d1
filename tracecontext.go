package tandem

import "context"

type traceParentKey struct{}

// WithTraceParent returns ctx carrying the W3C traceparent of the request
// being served (set by the region's tracing middleware), so the journal
// entry a write makes records it.
func WithTraceParent(ctx context.Context, traceParent string) context.Context {
	return context.WithValue(ctx, traceParentKey{}, traceParent)
}

// TraceParentOf returns the traceparent WithTraceParent put in ctx, or "".
func TraceParentOf(ctx context.Context) string {
	s, _ := ctx.Value(traceParentKey{}).(string)
	return s
}
