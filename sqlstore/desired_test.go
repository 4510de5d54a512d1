package sqlstore_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
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
			replica, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
			must(t, err)
			defer replica.Close()
			es, err := s.ReadJournal(ctx, 0, 1000)
			must(t, err)
			n := 0
			for _, e := range es {
				if e.Op == "desired.applied" {
					n++
					if e.Kind != tandem.KindWorkspace {
						t.Fatalf("entry kind %s", e.Kind)
					}
				}
				if _, err := replica.Apply(ctx, e); err != nil {
					t.Fatalf("apply %s: %v", e.Op, err)
				}
			}
			rdoc, _, err := replica.DesiredApplied(ctx)
			must(t, err)
			if n != 2 || string(rdoc) != string(doc) {
				t.Fatalf("%d entries; replica has %s", n, rdoc)
			}
		})
	}
}
