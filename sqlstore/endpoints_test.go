package sqlstore_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

// TestEndpointsKind: endpoints and deployments round-trip through the
// journal (kind endpoints): a replica applying it reads the same rows,
// sealed keys included; refusals leave nothing behind.
func TestEndpointsKind(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			_, err := s.CreateRegisteredModel(ctx, "iris", "", nil)
			must(t, err)
			_, err = s.CreateModelVersion(ctx, tandem.NewModelVersion{Name: "iris", Source: "s3://bucket/model"})
			must(t, err)
			_, err = s.CreateModelVersion(ctx, tandem.NewModelVersion{Name: "iris", Source: "s3://bucket/model2"})
			must(t, err)
			must(t, s.SetRegisteredModelAlias(ctx, "iris", "champion", 2))

			// Traffic to a deployment that does not exist yet is refused.
			_, err = s.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "iris-ep", Traffic: map[string]int{"blue": 100}}, "sealed-1", tandem.PutCreate)
			wantCode(t, err, tandem.EINVALID)
			_, err = s.GetEndpoint(ctx, "iris-ep")
			wantCode(t, err, tandem.ENOTFOUND)
			ep, err := s.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "iris-ep"}, "sealed-1", tandem.PutCreate)
			must(t, err)
			if ep.AuthMode != tandem.EndpointAuthKey || ep.CreatedMS == 0 {
				t.Fatalf("created %+v", ep)
			}
			_, err = s.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "iris-ep"}, "sealed-x", tandem.PutCreate)
			wantCode(t, err, tandem.EEXISTS)
			_, err = s.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "other-ep"}, "sealed-x", tandem.PutUpdate)
			wantCode(t, err, tandem.ENOTFOUND)

			// Deployments: a missing model version or alias writes nothing.
			_, err = s.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue", Model: "azureml:iris:9"}, tandem.PutCreate)
			wantCode(t, err, tandem.EINVALID)
			_, err = s.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue", Model: "models:/iris@nope"}, tandem.PutCreate)
			wantCode(t, err, tandem.EINVALID)
			_, err = s.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "no-ep", Name: "blue", Model: "azureml:iris:1"}, tandem.PutCreate)
			wantCode(t, err, tandem.ENOTFOUND)
			blue, err := s.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue", Model: "azureml:iris:1", InstanceCount: 2}, tandem.PutCreate)
			must(t, err)
			green, err := s.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "green", Model: "models:/iris@champion"}, tandem.PutCreate)
			must(t, err)
			if blue.ModelName != "iris" || blue.ModelVersion != 1 || green.ModelVersion != 2 || blue.InstanceCount != 2 {
				t.Fatalf("resolved %+v %+v", blue, green)
			}
			ds, err := s.ListDeployments(ctx, "iris-ep")
			must(t, err)
			if len(ds) != 2 {
				t.Fatalf("deployments %d", len(ds))
			}

			// Update the traffic: keys and creation time stay.
			ep2, err := s.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "iris-ep", Traffic: map[string]int{"blue": 90, "green": 10}}, "sealed-ignored", tandem.PutUpdate)
			must(t, err)
			sealed, err := s.EndpointKeysSealed(ctx, "iris-ep")
			must(t, err)
			if sealed != "sealed-1" || ep2.CreatedMS != ep.CreatedMS {
				t.Fatalf("update changed keys (%s) or creation (%d vs %d)", sealed, ep2.CreatedMS, ep.CreatedMS)
			}
			wantCode(t, s.ReplaceEndpointKeys(ctx, "iris-ep", "stale", "sealed-2"), tandem.ECONFLICT)
			must(t, s.ReplaceEndpointKeys(ctx, "iris-ep", "sealed-1", "sealed-2"))
			// A deployment with traffic cannot be deleted.
			wantCode(t, s.DeleteDeployment(ctx, "iris-ep", "green"), tandem.ECONFLICT)
			_, err = s.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "iris-ep", Traffic: map[string]int{"blue": 100}}, "", tandem.PutUpdate)
			must(t, err)
			must(t, s.DeleteDeployment(ctx, "iris-ep", "green"))
			wantCode(t, s.DeleteDeployment(ctx, "iris-ep", "green"), tandem.ENOTFOUND)
			_, err = s.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "gone-ep", Regions: []string{"east"}}, "sealed-g", tandem.PutCreate)
			must(t, err)
			_, err = s.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "gone-ep", Name: "blue", Model: "models:/iris/2"}, tandem.PutCreate)
			must(t, err)
			must(t, s.DeleteEndpoint(ctx, "gone-ep"))
			wantCode(t, s.DeleteEndpoint(ctx, "gone-ep"), tandem.ENOTFOUND)

			replica, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
			must(t, err)
			defer replica.Close()
			es, err := s.ReadJournal(ctx, 0, 10000)
			must(t, err)
			n := 0
			for _, e := range es {
				if e.Kind == tandem.KindEndpoints {
					n++
				}
				if _, err := replica.Apply(ctx, e); err != nil {
					t.Fatalf("apply %s: %v", e.Op, err)
				}
			}
			// Endpoint puts: create, traffic, keys, traffic; gone-ep put and
			// delete; deployment puts: blue, green, gone-ep's; green's delete.
			if n != 10 {
				t.Fatalf("%d entries of kind endpoints, want 10", n)
			}
			for _, st := range []*sqlstore.Store{s, replica} {
				eps, err := st.ListEndpoints(ctx)
				must(t, err)
				if len(eps) != 1 || eps[0].Name != "iris-ep" || !reflect.DeepEqual(eps[0].Traffic, map[string]int{"blue": 100}) {
					t.Fatalf("endpoints %+v", eps)
				}
				sealed, err := st.EndpointKeysSealed(ctx, "iris-ep")
				must(t, err)
				ds, err := st.ListDeployments(ctx, "")
				must(t, err)
				if sealed != "sealed-2" || len(ds) != 1 || ds[0].Name != "blue" || ds[0].ModelVersion != 1 {
					t.Fatalf("keys %s deployments %+v", sealed, ds)
				}
			}
		})
	}
}
