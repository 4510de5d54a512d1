package tandem

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// MLflow 3's AI gateway configuration: secrets holding provider
// credentials, model definitions (a provider's model and the secret to
// reach it with), gateway endpoints that route to one or more model
// definitions, and bindings of endpoints to the resources that use them
// (scorers). Times are milliseconds since the epoch. tandem keeps and
// replicates this configuration; it does not call the providers.

// GatewaySecret is the metadata of a gateway secret. The values arrive
// once, are sealed with the workspace key before they reach the database
// or the journal, and are never returned: MaskedValues shows each value's
// first three and last four characters ("***" for one shorter than 8).
type GatewaySecret struct {
	SecretID     string            `json:"secret_id"`
	SecretName   string            `json:"secret_name"`
	MaskedValues map[string]string `json:"masked_values,omitempty"`
	Created      int64             `json:"created_at"`
	Updated      int64             `json:"last_updated_at"`
	Provider     string            `json:"provider,omitempty"`
	CreatedBy    string            `json:"created_by,omitempty"`
	UpdatedBy    string            `json:"last_updated_by,omitempty"`
	AuthConfig   map[string]string `json:"auth_config,omitempty"`
}

// GatewayModelDefinition is a provider's model reached with one secret.
// SecretName is the secret's name when read (SecretID and SecretName are
// "" once the secret is deleted: the definition stays, orphaned, until it
// is given another).
type GatewayModelDefinition struct {
	ID         string `json:"model_definition_id"`
	Name       string `json:"name"`
	SecretID   string `json:"secret_id,omitempty"`
	SecretName string `json:"secret_name,omitempty"`
	Provider   string `json:"provider"`
	ModelName  string `json:"model_name"`
	Created    int64  `json:"created_at"`
	Updated    int64  `json:"last_updated_at"`
	CreatedBy  string `json:"created_by,omitempty"`
	UpdatedBy  string `json:"last_updated_by,omitempty"`
}

// Linkage types of a model definition on a gateway endpoint.
const (
	GatewayPrimaryLink  = "PRIMARY"
	GatewayFallbackLink = "FALLBACK"
)

// GatewayModelConfig is how a model definition is attached to an endpoint:
// as a primary (traffic split by Weight) or a fallback (tried in
// FallbackOrder).
type GatewayModelConfig struct {
	ModelDefinitionID string  `json:"model_definition_id"`
	LinkageType       string  `json:"linkage_type"`
	Weight            float64 `json:"weight"`
	FallbackOrder     int64   `json:"fallback_order,omitempty"`
}

// GatewayModelMapping is one attachment of a model definition to an
// endpoint. ModelDefinition is filled in when read.
type GatewayModelMapping struct {
	MappingID         string                  `json:"mapping_id"`
	EndpointID        string                  `json:"endpoint_id"`
	ModelDefinitionID string                  `json:"model_definition_id"`
	ModelDefinition   *GatewayModelDefinition `json:"model_definition,omitempty"`
	Weight            float64                 `json:"weight,omitempty"`
	Created           int64                   `json:"created_at"`
	CreatedBy         string                  `json:"created_by,omitempty"`
	LinkageType       string                  `json:"linkage_type"`
	FallbackOrder     int64                   `json:"fallback_order,omitempty"`
}

// GatewayFallback is an endpoint's fallback configuration (Strategy
// SEQUENTIAL or "").
type GatewayFallback struct {
	Strategy    string `json:"strategy,omitempty"`
	MaxAttempts int64  `json:"max_attempts,omitempty"`
}

// GatewayTag is one tag of a gateway endpoint.
type GatewayTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// GatewayEndpoint is a named gateway endpoint with its model mappings and
// tags. ExperimentID is where its usage traces go (with UsageTracking,
// an experiment "gateway/NAME" is made when none is given). CreatedBy and
// UpdatedBy are always written, as MLflow's server writes them.
type GatewayEndpoint struct {
	ID              string                `json:"endpoint_id"`
	Name            string                `json:"name"`
	Created         int64                 `json:"created_at"`
	Updated         int64                 `json:"last_updated_at"`
	Mappings        []GatewayModelMapping `json:"model_mappings,omitempty"`
	CreatedBy       string                `json:"created_by"`
	UpdatedBy       string                `json:"last_updated_by"`
	Tags            []GatewayTag          `json:"tags,omitempty"`
	RoutingStrategy string                `json:"routing_strategy,omitempty"`
	Fallback        *GatewayFallback      `json:"fallback_config,omitempty"`
	ExperimentID    string                `json:"experiment_id,omitempty"`
	UsageTracking   bool                  `json:"usage_tracking"`
}

// GatewayBinding binds an endpoint to a resource that calls it.
type GatewayBinding struct {
	EndpointID   string `json:"endpoint_id"`
	ResourceType string `json:"resource_type"`
	ResourceID   string `json:"resource_id"`
	Created      int64  `json:"created_at"`
	Updated      int64  `json:"last_updated_at"`
	CreatedBy    string `json:"created_by,omitempty"`
	UpdatedBy    string `json:"last_updated_by,omitempty"`
}

// GatewayResourceTypes are the resources an endpoint may be bound to.
var GatewayResourceTypes = []string{"scorer"}

// Gateway routing and fallback strategies MLflow defines.
const (
	GatewayTrafficSplit = "REQUEST_BASED_TRAFFIC_SPLIT"
	GatewaySequential   = "SEQUENTIAL"
)

var gatewayEndpointNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// ValidateGatewayEndpointName checks an endpoint name as MLflow does: it is
// part of the URL the endpoint is called at.
func ValidateGatewayEndpointName(name string) error {
	if !gatewayEndpointNameRE.MatchString(name) {
		return Errorf(EINVALID, "Invalid endpoint name '%s'. Name can only contain letters, numbers, underscores, hyphens, and dots.", name)
	}
	return nil
}

// ValidateGatewayModelConfig checks one model configuration (where names
// it in messages: "model_config" or "model_configs[i]").
func ValidateGatewayModelConfig(c GatewayModelConfig, where string) error {
	if c.LinkageType != GatewayPrimaryLink && c.LinkageType != GatewayFallbackLink {
		return Errorf(EINVALID, "Invalid or missing value for required parameter 'linkage_type' in %s. Must be one of: PRIMARY, FALLBACK.", where)
	}
	if c.ModelDefinitionID == "" {
		return Errorf(EINVALID, "Missing value for required parameter 'model_definition_id' in %s.", where)
	}
	if c.Weight < 0 || c.FallbackOrder < 0 {
		return Errorf(EINVALID, "Invalid value in %s: weight and fallback_order must not be negative.", where)
	}
	return CheckText(where+".model_definition_id", c.ModelDefinitionID)
}

// ValidateGatewayStrategies checks a routing strategy and a fallback
// configuration ("" and nil: none).
func ValidateGatewayStrategies(routing string, fb *GatewayFallback) error {
	if routing != "" && routing != GatewayTrafficSplit {
		return Errorf(EINVALID, "Invalid value '%s' for parameter 'routing_strategy' supplied. Must be %s.", routing, GatewayTrafficSplit)
	}
	if fb != nil {
		if fb.Strategy != "" && fb.Strategy != GatewaySequential {
			return Errorf(EINVALID, "Invalid value '%s' for parameter 'fallback_config.strategy' supplied. Must be %s.", fb.Strategy, GatewaySequential)
		}
		if fb.MaxAttempts < 0 {
			return Errorf(EINVALID, "Invalid value %d for parameter 'fallback_config.max_attempts' supplied. It must not be negative.", fb.MaxAttempts)
		}
	}
	return nil
}

// ValidateGatewayResourceType checks a binding's resource type.
func ValidateGatewayResourceType(t string) error {
	if !slices.Contains(GatewayResourceTypes, t) {
		return Errorf(EINVALID, "Invalid value '%s' for parameter 'resource_type' supplied. Must be one of: %s.", t, strings.Join(GatewayResourceTypes, ", "))
	}
	return nil
}

// gatewayDestinationKeys are the LiteLLM options that choose where the
// gateway sends requests. Only auth_config's api_base may name one (it is
// checked); the others are refused in auth_config, and all of them in a
// secret's values, where nothing can check them.
var gatewayDestinationKeys = []string{"api_base", "base_url", "custom_llm_provider", "fallbacks", "model_list"}

// ValidateGatewaySecretValue checks the values of a gateway secret (nil:
// unchanged, for an update). Values are never quoted in messages.
func ValidateGatewaySecretValue(v map[string]string) error {
	var bad []string
	for _, k := range SortedKeys(v) {
		if slices.Contains(gatewayDestinationKeys, k) {
			bad = append(bad, "'"+k+"'")
		}
		if err := CheckText("secret_value key", k); err != nil {
			return err
		}
		if err := CheckText("secret_value."+k, v[k]); err != nil {
			return Errorf(EINVALID, "Invalid value for parameter 'secret_value' supplied: the value of '%s' is not valid text", k)
		}
	}
	if len(bad) > 0 {
		return Errorf(EINVALID, "secret_value must not contain %s: these keys choose where the gateway sends requests. Set the upstream with 'api_base' in auth_config, where it is validated.", strings.Join(bad, ", "))
	}
	return nil
}

// NormalizeGatewayAuthConfig checks a secret's auth_config and returns it
// with a blank api_base dropped. api_base must be an https URL with a host
// and no credentials in it.
func NormalizeGatewayAuthConfig(c map[string]string) (map[string]string, error) {
	if len(c) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	var bad []string
	for _, k := range SortedKeys(c) {
		if k != "api_base" && slices.Contains(gatewayDestinationKeys, k) {
			bad = append(bad, "'"+k+"'")
		}
		if err := CheckText("auth_config."+k, k+c[k]); err != nil {
			return nil, err
		}
		out[k] = c[k]
	}
	if len(bad) > 0 {
		return nil, Errorf(EINVALID, "auth_config must not contain %s: these LiteLLM options choose where the gateway sends requests. Set the upstream with 'api_base', which is validated.", strings.Join(bad, ", "))
	}
	base := strings.TrimSpace(out["api_base"])
	if base == "" {
		delete(out, "api_base")
		return out, nil
	}
	if err := checkGatewayAPIBase(base); err != nil {
		return nil, err
	}
	out["api_base"] = base
	return out, nil
}

func checkGatewayAPIBase(base string) error {
	u, err := url.Parse(base)
	switch {
	case err != nil:
		return Errorf(EINVALID, "Gateway secret api_base is not a URL: %q", base)
	case u.Scheme != "https":
		return Errorf(EINVALID, "Invalid Gateway secret api_base scheme: %q. Allowed schemes are: 'https'.", base)
	case u.User != nil:
		return Errorf(EINVALID, "Gateway secret api_base must not include embedded credentials: %q", base)
	case u.Hostname() == "":
		return Errorf(EINVALID, "Gateway secret api_base must include a hostname: %q", base)
	}
	return nil
}

// MaskGatewaySecret returns what a secret's values show: each value's
// first three and last four characters, "***" for one shorter than 8.
func MaskGatewaySecret(v map[string]string) map[string]string {
	out := make(map[string]string, len(v))
	for k, s := range v {
		r := []rune(s)
		if len(r) < 8 {
			out[k] = "***"
			continue
		}
		out[k] = string(r[:3]) + "..." + string(r[len(r)-4:])
	}
	return out
}

// GatewaySecretUpdate is what an update changes: Sealed and Masked new
// values (Sealed "" : unchanged), AuthConfig (nil: unchanged, empty:
// cleared).
type GatewaySecretUpdate struct {
	Sealed     string
	Masked     map[string]string
	AuthConfig map[string]string
	UpdatedBy  string
}

// GatewayModelUpdate holds what an update changes ("": unchanged).
type GatewayModelUpdate struct {
	Name, SecretID, ModelName, Provider, UpdatedBy string
}

// GatewayEndpointUpdate holds what an update changes ("" and nil:
// unchanged). Configs replaces every mapping.
type GatewayEndpointUpdate struct {
	Name, UpdatedBy, RoutingStrategy string
	Fallback                         *GatewayFallback
	Configs                          []GatewayModelConfig
	ExperimentID                     string
	UsageTracking                    *bool
}

// GatewayEndpointInput is a new gateway endpoint. With UsageTracking and
// no ExperimentID, the experiment "gateway/NAME" is made (or reused).
type GatewayEndpointInput struct {
	Name            string
	Configs         []GatewayModelConfig
	CreatedBy       string
	RoutingStrategy string
	Fallback        *GatewayFallback
	ExperimentID    string
	UsageTracking   bool
}
