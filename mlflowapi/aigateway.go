package mlflowapi

import (
	"context"
	"net/http"

	"github.com/tandemml/tandem"
)

// MLflow 3's AI gateway configuration API, under the 3.0 prefixes as
// MLflow serves it: secrets (values sealed with the workspace key, shown
// masked), model definitions, endpoints with their model mappings and
// tags, and bindings. tandem keeps and replicates the configuration; it
// does not call the providers (the invocation routes, budgets, guardrails
// and the provider catalog are not served).

// GatewaySecrets seals gateway secret values with the workspace key
// (keyvault.Vault). Without one, creating or rotating a secret is refused.
type GatewaySecrets interface {
	SealGatewaySecret(ctx context.Context, value map[string]string) (string, error)
	HasKey() bool
}

// SetGatewaySecrets makes g the sealer of gateway secret values.
func (s *Server) SetGatewaySecrets(g GatewaySecrets) { s.gatewaySecrets = g }

func (s *Server) routesAIGateway() {
	g := func(method, name string, h http.HandlerFunc) { s.handle3(method, "gateway/"+name, h) }
	g("POST", "secrets/create", handleJSON(s, s.createGatewaySecret))
	g("GET", "secrets/get", handleJSON(s, s.getGatewaySecret))
	g("POST", "secrets/update", handleJSON(s, s.updateGatewaySecret))
	g("DELETE", "secrets/delete", handleJSON(s, s.deleteGatewaySecret))
	g("GET", "secrets/list", handleJSON(s, s.listGatewaySecrets))
	g("POST", "model-definitions/create", handleJSON(s, s.createGatewayModel))
	g("GET", "model-definitions/get", handleJSON(s, s.getGatewayModel))
	g("GET", "model-definitions/list", handleJSON(s, s.listGatewayModels))
	g("POST", "model-definitions/update", handleJSON(s, s.updateGatewayModel))
	g("DELETE", "model-definitions/delete", handleJSON(s, s.deleteGatewayModel))
	g("POST", "endpoints/create", handleJSON(s, s.createGatewayEndpoint))
	g("GET", "endpoints/get", handleJSON(s, s.getGatewayEndpoint))
	g("POST", "endpoints/update", handleJSON(s, s.updateGatewayEndpoint))
	g("DELETE", "endpoints/delete", handleJSON(s, s.deleteGatewayEndpoint))
	g("GET", "endpoints/list", handleJSON(s, s.listGatewayEndpoints))
	g("POST", "endpoints/models/attach", handleJSON(s, s.attachGatewayModel))
	g("POST", "endpoints/models/detach", handleJSON(s, s.detachGatewayModel))
	g("POST", "endpoints/bindings/create", handleJSON(s, s.createGatewayBinding))
	g("DELETE", "endpoints/bindings/delete", handleJSON(s, s.deleteGatewayBinding))
	g("GET", "endpoints/bindings/list", handleJSON(s, s.listGatewayBindings))
	g("POST", "endpoints/set-tag", handleJSON(s, s.setGatewayTag))
	g("DELETE", "endpoints/delete-tag", handleJSON(s, s.deleteGatewayTag))
	// The UI asks whether secrets can be stored (ajax only, as MLflow).
	s.handleRaw("GET /ajax-api/3.0/mlflow/gateway/secrets/config", handleCall(s, s.gatewaySecretsConfig))
}

// ---- secrets ----

type createGatewaySecretReq struct {
	SecretName  string            `json:"secret_name" mlflow:"required"`
	SecretValue map[string]string `json:"secret_value"`
	Provider    string            `json:"provider"`
	AuthConfig  map[string]string `json:"auth_config"`
	CreatedBy   string            `json:"created_by"`
}

type gatewaySecretResp struct {
	Secret *tandem.GatewaySecret `json:"secret"`
}

// sealGatewaySecret checks, seals and masks a secret's values.
func (s *Server) sealGatewaySecret(ctx context.Context, v map[string]string) (string, map[string]string, error) {
	if err := tandem.ValidateGatewaySecretValue(v); err != nil {
		return "", nil, err
	}
	if s.gatewaySecrets == nil {
		return "", nil, tandem.Errorf(tandem.EUNAVAILABLE, "this server has no key vault to seal gateway secrets with")
	}
	// Without a workspace key the vault refuses, saying how to give one.
	sealed, err := s.gatewaySecrets.SealGatewaySecret(ctx, v)
	if err != nil {
		return "", nil, err
	}
	return sealed, tandem.MaskGatewaySecret(v), nil
}

func (s *Server) createGatewaySecret(r *http.Request, req *createGatewaySecretReq) (any, error) {
	if req.SecretValue == nil {
		return nil, tandem.Errorf(tandem.EINVALID, "Missing value for required parameter 'secret_value'.")
	}
	auth, err := tandem.NormalizeGatewayAuthConfig(req.AuthConfig)
	if err != nil {
		return nil, err
	}
	sealed, masked, err := s.sealGatewaySecret(r.Context(), req.SecretValue)
	if err != nil {
		return nil, err
	}
	g, err := s.Store.CreateGatewaySecret(r.Context(), tandem.GatewaySecret{SecretName: req.SecretName, MaskedValues: masked,
		Provider: req.Provider, AuthConfig: auth, CreatedBy: req.CreatedBy}, sealed)
	if err != nil {
		return nil, err
	}
	return gatewaySecretResp{g}, nil
}

type gatewaySecretIDReq struct {
	SecretID string `json:"secret_id" mlflow:"required"`
}

func (s *Server) getGatewaySecret(r *http.Request, req *gatewaySecretIDReq) (any, error) {
	g, err := s.Store.GetGatewaySecret(r.Context(), req.SecretID)
	if err != nil {
		return nil, err
	}
	return gatewaySecretResp{g}, nil
}

type updateGatewaySecretReq struct {
	SecretID    string            `json:"secret_id" mlflow:"required"`
	SecretValue map[string]string `json:"secret_value"`
	AuthConfig  map[string]string `json:"auth_config"`
	UpdatedBy   string            `json:"updated_by"`
}

func (s *Server) updateGatewaySecret(r *http.Request, req *updateGatewaySecretReq) (any, error) {
	// An empty map leaves a field unchanged; an auth_config that is empty
	// once normalised (only a blank api_base) clears it.
	var u tandem.GatewaySecretUpdate
	if len(req.AuthConfig) > 0 {
		auth, err := tandem.NormalizeGatewayAuthConfig(req.AuthConfig)
		if err != nil {
			return nil, err
		}
		if auth == nil {
			auth = map[string]string{}
		}
		u.AuthConfig = auth
	}
	if len(req.SecretValue) > 0 {
		sealed, masked, err := s.sealGatewaySecret(r.Context(), req.SecretValue)
		if err != nil {
			return nil, err
		}
		u.Sealed, u.Masked = sealed, masked
	}
	u.UpdatedBy = req.UpdatedBy
	g, err := s.Store.UpdateGatewaySecret(r.Context(), req.SecretID, u)
	if err != nil {
		return nil, err
	}
	return gatewaySecretResp{g}, nil
}

func (s *Server) deleteGatewaySecret(r *http.Request, req *gatewaySecretIDReq) (any, error) {
	return empty{}, s.Store.DeleteGatewaySecret(r.Context(), req.SecretID)
}

type listGatewaySecretsReq struct {
	Provider string `json:"provider"`
}

func (s *Server) listGatewaySecrets(r *http.Request, req *listGatewaySecretsReq) (any, error) {
	l, err := s.Store.ListGatewaySecrets(r.Context(), req.Provider)
	if err != nil {
		return nil, err
	}
	return struct {
		Secrets []tandem.GatewaySecret `json:"secrets,omitempty"`
	}{l}, nil
}

func (s *Server) gatewaySecretsConfig(*http.Request) (any, error) {
	// tandem has no default key: secrets are available only with one.
	return struct {
		Available      bool `json:"secrets_available"`
		DefaultPassKey bool `json:"using_default_passphrase"`
	}{s.gatewaySecrets != nil && s.gatewaySecrets.HasKey(), false}, nil
}

// ---- model definitions ----

type createGatewayModelReq struct {
	Name      string `json:"name" mlflow:"required"`
	SecretID  string `json:"secret_id" mlflow:"required"`
	Provider  string `json:"provider" mlflow:"required"`
	ModelName string `json:"model_name" mlflow:"required"`
	CreatedBy string `json:"created_by"`
}

type gatewayModelResp struct {
	ModelDefinition *tandem.GatewayModelDefinition `json:"model_definition"`
}

func (s *Server) createGatewayModel(r *http.Request, req *createGatewayModelReq) (any, error) {
	d, err := s.Store.CreateGatewayModelDefinition(r.Context(), tandem.GatewayModelDefinition{Name: req.Name,
		SecretID: req.SecretID, Provider: req.Provider, ModelName: req.ModelName, CreatedBy: req.CreatedBy})
	if err != nil {
		return nil, err
	}
	return gatewayModelResp{d}, nil
}

type gatewayModelIDReq struct {
	ModelDefinitionID string `json:"model_definition_id" mlflow:"required"`
}

func (s *Server) getGatewayModel(r *http.Request, req *gatewayModelIDReq) (any, error) {
	d, err := s.Store.GetGatewayModelDefinition(r.Context(), req.ModelDefinitionID)
	if err != nil {
		return nil, err
	}
	return gatewayModelResp{d}, nil
}

type listGatewayModelsReq struct {
	Provider string `json:"provider"`
	SecretID string `json:"secret_id"`
}

func (s *Server) listGatewayModels(r *http.Request, req *listGatewayModelsReq) (any, error) {
	l, err := s.Store.ListGatewayModelDefinitions(r.Context(), req.Provider, req.SecretID)
	if err != nil {
		return nil, err
	}
	return struct {
		ModelDefinitions []tandem.GatewayModelDefinition `json:"model_definitions,omitempty"`
	}{l}, nil
}

type updateGatewayModelReq struct {
	ModelDefinitionID string `json:"model_definition_id" mlflow:"required"`
	Name              string `json:"name"`
	SecretID          string `json:"secret_id"`
	ModelName         string `json:"model_name"`
	UpdatedBy         string `json:"updated_by"`
	Provider          string `json:"provider"`
}

func (s *Server) updateGatewayModel(r *http.Request, req *updateGatewayModelReq) (any, error) {
	d, err := s.Store.UpdateGatewayModelDefinition(r.Context(), req.ModelDefinitionID, tandem.GatewayModelUpdate{
		Name: req.Name, SecretID: req.SecretID, ModelName: req.ModelName, Provider: req.Provider, UpdatedBy: req.UpdatedBy})
	if err != nil {
		return nil, err
	}
	return gatewayModelResp{d}, nil
}

func (s *Server) deleteGatewayModel(r *http.Request, req *gatewayModelIDReq) (any, error) {
	return empty{}, s.Store.DeleteGatewayModelDefinition(r.Context(), req.ModelDefinitionID)
}

// ---- endpoints ----

type gatewayModelConfigJSON struct {
	ModelDefinitionID string  `json:"model_definition_id"`
	LinkageType       string  `json:"linkage_type"`
	Weight            Float64 `json:"weight"`
	FallbackOrder     Int64   `json:"fallback_order"`
}

func (c gatewayModelConfigJSON) config() tandem.GatewayModelConfig {
	return tandem.GatewayModelConfig{ModelDefinitionID: c.ModelDefinitionID, LinkageType: c.LinkageType,
		Weight: c.Weight.V, FallbackOrder: c.FallbackOrder.V}
}

func gatewayConfigs(l []gatewayModelConfigJSON) []tandem.GatewayModelConfig {
	if len(l) == 0 {
		return nil
	}
	out := make([]tandem.GatewayModelConfig, 0, len(l))
	for _, c := range l {
		out = append(out, c.config())
	}
	return out
}

type gatewayFallbackJSON struct {
	Strategy    string `json:"strategy"`
	MaxAttempts Int64  `json:"max_attempts"`
}

func (f *gatewayFallbackJSON) fallback() *tandem.GatewayFallback {
	if f == nil {
		return nil
	}
	return &tandem.GatewayFallback{Strategy: f.Strategy, MaxAttempts: f.MaxAttempts.V}
}

type createGatewayEndpointReq struct {
	Name            string                   `json:"name" mlflow:"required"`
	ModelConfigs    []gatewayModelConfigJSON `json:"model_configs"`
	CreatedBy       string                   `json:"created_by"`
	RoutingStrategy string                   `json:"routing_strategy"`
	FallbackConfig  *gatewayFallbackJSON     `json:"fallback_config"`
	ExperimentID    string                   `json:"experiment_id"`
	UsageTracking   Bool                     `json:"usage_tracking"`
}

type gatewayEndpointResp struct {
	Endpoint *tandem.GatewayEndpoint `json:"endpoint"`
}

func (s *Server) createGatewayEndpoint(r *http.Request, req *createGatewayEndpointReq) (any, error) {
	if req.ModelConfigs == nil {
		return nil, tandem.MissingParam("model_configs")
	}
	tracking := true // MLflow's default
	if req.UsageTracking.Set {
		tracking = req.UsageTracking.V
	}
	ep, err := s.Store.CreateGatewayEndpoint(r.Context(), tandem.GatewayEndpointInput{Name: req.Name,
		Configs: gatewayConfigs(req.ModelConfigs), CreatedBy: req.CreatedBy, RoutingStrategy: req.RoutingStrategy,
		Fallback: req.FallbackConfig.fallback(), ExperimentID: req.ExperimentID, UsageTracking: tracking})
	if err != nil {
		return nil, err
	}
	return gatewayEndpointResp{ep}, nil
}

type getGatewayEndpointReq struct {
	EndpointID string `json:"endpoint_id"`
	Name       string `json:"name"`
}

func (s *Server) getGatewayEndpoint(r *http.Request, req *getGatewayEndpointReq) (any, error) {
	if (req.EndpointID == "") == (req.Name == "") {
		return nil, tandem.Errorf(tandem.EINVALID, "Exactly one of endpoint_id or name must be provided")
	}
	ep, err := s.Store.GetGatewayEndpoint(r.Context(), req.EndpointID, req.Name)
	if err != nil {
		return nil, err
	}
	return gatewayEndpointResp{ep}, nil
}

type updateGatewayEndpointReq struct {
	EndpointID      string                   `json:"endpoint_id" mlflow:"required"`
	Name            string                   `json:"name"`
	UpdatedBy       string                   `json:"updated_by"`
	ModelConfigs    []gatewayModelConfigJSON `json:"model_configs"`
	RoutingStrategy string                   `json:"routing_strategy"`
	FallbackConfig  *gatewayFallbackJSON     `json:"fallback_config"`
	ExperimentID    string                   `json:"experiment_id"`
	UsageTracking   Bool                     `json:"usage_tracking"`
}

func (s *Server) updateGatewayEndpoint(r *http.Request, req *updateGatewayEndpointReq) (any, error) {
	u := tandem.GatewayEndpointUpdate{Name: req.Name, UpdatedBy: req.UpdatedBy, RoutingStrategy: req.RoutingStrategy,
		Fallback: req.FallbackConfig.fallback(), Configs: gatewayConfigs(req.ModelConfigs), ExperimentID: req.ExperimentID}
	if req.UsageTracking.Set {
		u.UsageTracking = &req.UsageTracking.V
	}
	ep, err := s.Store.UpdateGatewayEndpoint(r.Context(), req.EndpointID, u)
	if err != nil {
		return nil, err
	}
	return gatewayEndpointResp{ep}, nil
}

type gatewayEndpointIDReq struct {
	EndpointID string `json:"endpoint_id" mlflow:"required"`
}

func (s *Server) deleteGatewayEndpoint(r *http.Request, req *gatewayEndpointIDReq) (any, error) {
	return empty{}, s.Store.DeleteGatewayEndpoint(r.Context(), req.EndpointID)
}

func (s *Server) listGatewayEndpoints(r *http.Request, req *listGatewayModelsReq) (any, error) {
	l, err := s.Store.ListGatewayEndpoints(r.Context(), req.Provider, req.SecretID)
	if err != nil {
		return nil, err
	}
	return struct {
		Endpoints []tandem.GatewayEndpoint `json:"endpoints,omitempty"`
	}{l}, nil
}

type attachGatewayModelReq struct {
	EndpointID  string                  `json:"endpoint_id" mlflow:"required"`
	ModelConfig *gatewayModelConfigJSON `json:"model_config"`
	CreatedBy   string                  `json:"created_by"`
}

func (s *Server) attachGatewayModel(r *http.Request, req *attachGatewayModelReq) (any, error) {
	if req.ModelConfig == nil {
		return nil, tandem.MissingParam("model_config")
	}
	m, err := s.Store.AttachGatewayModel(r.Context(), req.EndpointID, req.ModelConfig.config(), req.CreatedBy)
	if err != nil {
		return nil, err
	}
	return struct {
		Mapping *tandem.GatewayModelMapping `json:"mapping"`
	}{m}, nil
}

type detachGatewayModelReq struct {
	EndpointID        string `json:"endpoint_id" mlflow:"required"`
	ModelDefinitionID string `json:"model_definition_id" mlflow:"required"`
}

func (s *Server) detachGatewayModel(r *http.Request, req *detachGatewayModelReq) (any, error) {
	return empty{}, s.Store.DetachGatewayModel(r.Context(), req.EndpointID, req.ModelDefinitionID)
}

// ---- bindings and tags ----

type createGatewayBindingReq struct {
	EndpointID   string `json:"endpoint_id" mlflow:"required"`
	ResourceType string `json:"resource_type" mlflow:"required"`
	ResourceID   string `json:"resource_id" mlflow:"required"`
	CreatedBy    string `json:"created_by"`
}

func (s *Server) createGatewayBinding(r *http.Request, req *createGatewayBindingReq) (any, error) {
	b, err := s.Store.CreateGatewayBinding(r.Context(), tandem.GatewayBinding{EndpointID: req.EndpointID,
		ResourceType: req.ResourceType, ResourceID: req.ResourceID, CreatedBy: req.CreatedBy})
	if err != nil {
		return nil, err
	}
	return struct {
		Binding *tandem.GatewayBinding `json:"binding"`
	}{b}, nil
}

type gatewayBindingReq struct {
	EndpointID   string `json:"endpoint_id" mlflow:"required"`
	ResourceType string `json:"resource_type" mlflow:"required"`
	ResourceID   string `json:"resource_id" mlflow:"required"`
}

func (s *Server) deleteGatewayBinding(r *http.Request, req *gatewayBindingReq) (any, error) {
	return empty{}, s.Store.DeleteGatewayBinding(r.Context(), req.EndpointID, req.ResourceType, req.ResourceID)
}

type listGatewayBindingsReq struct {
	EndpointID   string `json:"endpoint_id"`
	ResourceType string `json:"resource_type"`
	ResourceID   string `json:"resource_id"`
}

func (s *Server) listGatewayBindings(r *http.Request, req *listGatewayBindingsReq) (any, error) {
	l, err := s.Store.ListGatewayBindings(r.Context(), req.EndpointID, req.ResourceType, req.ResourceID)
	if err != nil {
		return nil, err
	}
	return struct {
		Bindings []tandem.GatewayBinding `json:"bindings,omitempty"`
	}{l}, nil
}

type setGatewayTagReq struct {
	EndpointID string `json:"endpoint_id" mlflow:"required"`
	Key        string `json:"key" mlflow:"required"`
	Value      string `json:"value"`
}

func (s *Server) setGatewayTag(r *http.Request, req *setGatewayTagReq) (any, error) {
	return empty{}, s.Store.SetGatewayEndpointTag(r.Context(), req.EndpointID, req.Key, req.Value)
}

type deleteGatewayTagReq struct {
	EndpointID string `json:"endpoint_id" mlflow:"required"`
	Key        string `json:"key" mlflow:"required"`
}

func (s *Server) deleteGatewayTag(r *http.Request, req *deleteGatewayTagReq) (any, error) {
	return empty{}, s.Store.DeleteGatewayEndpointTag(r.Context(), req.EndpointID, req.Key)
}
