package sqlstore_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tandemml/tandem"
)

// TestDesiredApplied: the last applied desired state is journalled (kind
// workspace), replaced by the next apply, and a replica that applies the
// journal reads the same record.
func TestDesiredApplied(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			_, _, err := s.DesiredApplied(ctx)
			wantCode(t, err, tandem.ENOTFOUND)
			wantCode(t, s.PutDesiredApplied(ctx, json.RawMessage(`{"objects": [`)), tandem.EINVALID)
			must(t, s.PutDesiredApplied(ctx, json.RawMessage(`{"objects":[{"kind":"role","name":"a","spec":{}}]}`)))
			must(t, s.PutDesiredApplied(ctx, json.RawMessage(`{"objects":[{"kind":"role","name":"b","spec":{}}]}`)))
			doc, ms, err := s.DesiredApplied(ctx)
			must(t, err)
			if ms == 0 || string(doc) != `{"objects":[{"kind":"role","name":"b","spec":{}}]}` {
				t.Fatalf("applied %s at %d", doc, ms)
			}
			replica, entries := replicate(t, s, "desired.applied")
			for _, e := range entries {
				if e.Kind != tandem.KindWorkspace {
					t.Fatalf("entry kind %s", e.Kind)
				}
			}
			rdoc, _, err := replica.DesiredApplied(ctx)
			must(t, err)
			if len(entries) != 2 || string(rdoc) != string(doc) {
				t.Fatalf("%d entries; replica has %s", len(entries), rdoc)
			}
		})
	}
}
