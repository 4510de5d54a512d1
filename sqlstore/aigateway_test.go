package sqlstore_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
)

// TestAIGateway: on every backend, bad gateway configuration is refused
// and writes nothing; secrets, model definitions, endpoints (with their
// usage experiment), mappings, tags and bindings keep MLflow's rules
// (in-use definitions cannot go, a deleted secret orphans its
// definitions, a deleted endpoint takes its bindings); and a replica that
// applies the journal reads the same configuration.
func TestAIGateway(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			head := func() tandem.Position { p, _ := s.Head(ctx); return p }

			sec, err := s.CreateGatewaySecret(ctx, tandem.GatewaySecret{SecretName: "openai-" + name, Provider: "openai",
				MaskedValues: map[string]string{"api_key": "sk-...1234"}, CreatedBy: "ann"}, "SEALED")
			must(t, err)
			def, err := s.CreateGatewayModelDefinition(ctx, tandem.GatewayModelDefinition{Name: "gpt-" + name,
				SecretID: sec.SecretID, Provider: "openai", ModelName: "gpt-4o"})
			must(t, err)
			if def.SecretName != sec.SecretName || !strings.HasPrefix(def.ID, "d-") {
				t.Fatalf("definition: %+v", def)
			}
			primary := []tandem.GatewayModelConfig{{ModelDefinitionID: def.ID, LinkageType: "PRIMARY", Weight: 1}}

			before := head()
			_, err = s.CreateGatewaySecret(ctx, tandem.GatewaySecret{SecretName: sec.SecretName}, "X")
			wantCode(t, err, tandem.EEXISTS)
			_, err = s.CreateGatewaySecret(ctx, tandem.GatewaySecret{SecretName: "n\x00"}, "X")
			wantCode(t, err, tandem.EINVALID)
			_, err = s.CreateGatewayModelDefinition(ctx, tandem.GatewayModelDefinition{Name: "x", SecretID: "s-nope", Provider: "p", ModelName: "m"})
			wantCode(t, err, tandem.ENOTFOUND)
			_, err = s.CreateGatewayModelDefinition(ctx, tandem.GatewayModelDefinition{Name: def.Name, SecretID: sec.SecretID, Provider: "p", ModelName: "m"})
			wantCode(t, err, tandem.EEXISTS)
			for _, bad := range []tandem.GatewayEndpointInput{
				{Name: "bad name", Configs: primary},
				{Name: "e1"},
				{Name: "e1", Configs: []tandem.GatewayModelConfig{{ModelDefinitionID: def.ID}}},
				{Name: "e1", Configs: primary, RoutingStrategy: "RANDOM"},
				{Name: "e1", Configs: primary, Fallback: &tandem.GatewayFallback{Strategy: "PARALLEL"}},
			} {
				_, err := s.CreateGatewayEndpoint(ctx, bad)
				wantCode(t, err, tandem.EINVALID)
			}
			// A missing definition is refused before the usage experiment exists.
			_, err = s.CreateGatewayEndpoint(ctx, tandem.GatewayEndpointInput{Name: "e1", UsageTracking: true,
				Configs: []tandem.GatewayModelConfig{{ModelDefinitionID: "d-nope", LinkageType: "PRIMARY"}}})
			wantCode(t, err, tandem.ENOTFOUND)
			_, err = s.CreateGatewayBinding(ctx, tandem.GatewayBinding{EndpointID: "e-nope", ResourceType: "scorer", ResourceID: "x"})
			wantCode(t, err, tandem.ENOTFOUND)
			if head() != before {
				t.Fatalf("bad input wrote: %v -> %v", before, head())
			}

			ep, err := s.CreateGatewayEndpoint(ctx, tandem.GatewayEndpointInput{Name: "chat-" + name, Configs: primary,
				CreatedBy: "ann", UsageTracking: true})
			must(t, err)
			exp, err := s.GetExperimentByName(ctx, "gateway/chat-"+name)
			must(t, err)
			if ep.ExperimentID != exp.ExperimentID || len(ep.Mappings) != 1 || ep.Mappings[0].ModelDefinition == nil ||
				ep.Mappings[0].ModelDefinition.SecretName != sec.SecretName {
				t.Fatalf("endpoint: %+v (experiment %s)", ep, exp.ExperimentID)
			}
			_, err = s.CreateGatewayEndpoint(ctx, tandem.GatewayEndpointInput{Name: ep.Name, Configs: primary})
			wantCode(t, err, tandem.EEXISTS)

			fb := tandem.GatewayModelConfig{ModelDefinitionID: def.ID, LinkageType: "FALLBACK", FallbackOrder: 1}
			_, err = s.AttachGatewayModel(ctx, ep.ID, fb, "bob")
			must(t, err)
			_, err = s.AttachGatewayModel(ctx, ep.ID, fb, "bob")
			wantCode(t, err, tandem.EEXISTS)
			must(t, s.SetGatewayEndpointTag(ctx, ep.ID, "team", "a"))
			must(t, s.SetGatewayEndpointTag(ctx, ep.ID, "team", "b"))
			b, err := s.CreateGatewayBinding(ctx, tandem.GatewayBinding{EndpointID: ep.ID, ResourceType: "scorer", ResourceID: "judge"})
			must(t, err)
			_, err = s.CreateGatewayBinding(ctx, *b)
			wantCode(t, err, tandem.EEXISTS)
			up, err := s.UpdateGatewayEndpoint(ctx, ep.ID, tandem.GatewayEndpointUpdate{RoutingStrategy: "REQUEST_BASED_TRAFFIC_SPLIT",
				Fallback: &tandem.GatewayFallback{Strategy: "SEQUENTIAL", MaxAttempts: 2}, UpdatedBy: "cy"})
			must(t, err)
			if len(up.Mappings) != 2 || up.Tags[0].Value != "b" || up.Fallback.MaxAttempts != 2 || up.UpdatedBy != "cy" {
				t.Fatalf("updated: %+v", up)
			}
			err = s.DeleteGatewayModelDefinition(ctx, def.ID)
			wantCode(t, err, tandem.EINVALIDSTATE)
			if l, err := s.ListGatewayEndpoints(ctx, "anthropic", ""); err != nil || len(l) != 0 {
				t.Fatalf("endpoints of anthropic: %v %v", l, err)
			}

			// The replica reads what the primary reads.
			replica, _ := replicate(t, s, "")
			for _, read := range []func(*sqlstore.Store) (any, error){
				func(x *sqlstore.Store) (any, error) { return x.ListGatewaySecrets(ctx, "") },
				func(x *sqlstore.Store) (any, error) { return x.ListGatewayModelDefinitions(ctx, "", "") },
				func(x *sqlstore.Store) (any, error) { return x.ListGatewayEndpoints(ctx, "openai", "") },
				func(x *sqlstore.Store) (any, error) { return x.ListGatewayBindings(ctx, ep.ID, "", "") },
			} {
				a, err := read(s)
				must(t, err)
				r, err := read(replica)
				must(t, err)
				ja, _ := json.Marshal(a)
				jr, _ := json.Marshal(r)
				if string(ja) != string(jr) || string(ja) == "null" {
					t.Fatalf("replica reads\n%s\nprimary reads\n%s", jr, ja)
				}
			}

			must(t, s.DeleteGatewaySecret(ctx, sec.SecretID))
			got, err := s.GetGatewayModelDefinition(ctx, def.ID)
			must(t, err)
			if got.SecretID != "" || got.SecretName != "" {
				t.Fatalf("orphaned definition: %+v", got)
			}
			must(t, s.DeleteGatewayEndpoint(ctx, ep.ID))
			if l, err := s.ListGatewayBindings(ctx, ep.ID, "", ""); err != nil || len(l) != 0 {
				t.Fatalf("bindings after delete: %v %v", l, err)
			}
			must(t, s.DeleteGatewayModelDefinition(ctx, def.ID))
		})
	}
}
