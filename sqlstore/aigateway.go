package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
)

var _ tandem.GatewayStore = (*Store)(nil)

// Journal ops of MLflow 3's AI gateway configuration (kind ai_gateway).
// Each carries the whole row (or endpoint) as written, resolved in
// prepare, or its key with delete set. A secret's values travel and are
// kept only sealed.
const (
	OpGatewaySecret   = "gateway.secret"
	OpGatewayModel    = "gateway.model"
	OpGatewayEndpoint = "gateway.endpoint"
	OpGatewayBinding  = "gateway.binding"
)

func (s *Store) registerAIGateway() {
	k := tandem.KindAIGateway
	s.register(OpGatewaySecret, k, applyGatewaySecret)
	s.register(OpGatewayModel, k, applyGatewayModel)
	s.register(OpGatewayEndpoint, k, applyGatewayEndpoint)
	s.register(OpGatewayBinding, k, applyGatewayBinding)
}

// tpGatewaySecret is a secret's row, or its id with Delete.
type tpGatewaySecret struct {
	tandem.GatewaySecret
	Sealed string `json:"sealed_value,omitempty"`
	Delete bool   `json:"delete,omitempty"`
}

type tpGatewayModel struct {
	tandem.GatewayModelDefinition
	Delete bool `json:"delete,omitempty"`
}

type tpGatewayEndpoint struct {
	tandem.GatewayEndpoint
	Delete bool `json:"delete,omitempty"`
}

type tpGatewayBinding struct {
	tandem.GatewayBinding
	Delete bool `json:"delete,omitempty"`
}

func readJSONMap(s string) map[string]string {
	if s == "" {
		return nil
	}
	var m map[string]string
	json.Unmarshal([]byte(s), &m)
	return m
}

func applyGatewaySecret(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p tpGatewaySecret
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	if p.Delete {
		// Model definitions that used it stay, orphaned, as MLflow keeps them.
		if _, err := tx.ExecContext(ctx, `UPDATE gateway_model_definitions SET secret_id = '' WHERE secret_id = ?`, p.SecretID); err != nil {
			return fmt.Errorf("orphan gateway model definitions: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM gateway_secrets WHERE secret_id = ?`, p.SecretID); err != nil {
			return fmt.Errorf("delete gateway secret: %w", err)
		}
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO gateway_secrets (secret_id, secret_name, sealed_value, masked_values, provider,
		auth_config, created_by, created_ms, updated_by, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (secret_id) DO UPDATE SET secret_name = excluded.secret_name, sealed_value = excluded.sealed_value,
		masked_values = excluded.masked_values, provider = excluded.provider, auth_config = excluded.auth_config,
		created_by = excluded.created_by, created_ms = excluded.created_ms, updated_by = excluded.updated_by,
		updated_ms = excluded.updated_ms`,
		p.SecretID, p.SecretName, p.Sealed, jsonOrEmpty(p.MaskedValues), p.Provider, jsonOrEmpty(p.AuthConfig), p.CreatedBy,
		p.Created, p.UpdatedBy, p.Updated)
	if err != nil {
		return fmt.Errorf("write gateway secret: %w", err)
	}
	return nil
}

func applyGatewayModel(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p tpGatewayModel
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	if p.Delete {
		if _, err := tx.ExecContext(ctx, `DELETE FROM gateway_model_definitions WHERE model_definition_id = ?`, p.ID); err != nil {
			return fmt.Errorf("delete gateway model definition: %w", err)
		}
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO gateway_model_definitions (model_definition_id, name, secret_id, provider,
		model_name, created_by, created_ms, updated_by, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (model_definition_id) DO UPDATE SET name = excluded.name, secret_id = excluded.secret_id,
		provider = excluded.provider, model_name = excluded.model_name, created_by = excluded.created_by,
		created_ms = excluded.created_ms, updated_by = excluded.updated_by, updated_ms = excluded.updated_ms`,
		p.ID, p.Name, p.SecretID, p.Provider, p.ModelName, p.CreatedBy, p.Created, p.UpdatedBy, p.Updated)
	if err != nil {
		return fmt.Errorf("write gateway model definition: %w", err)
	}
	return nil
}

func applyGatewayEndpoint(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p tpGatewayEndpoint
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	if p.Delete {
		if _, err := tx.ExecContext(ctx, `DELETE FROM gateway_bindings WHERE endpoint_id = ?`, p.ID); err != nil {
			return fmt.Errorf("delete gateway bindings: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM gateway_endpoints WHERE endpoint_id = ?`, p.ID); err != nil {
			return fmt.Errorf("delete gateway endpoint: %w", err)
		}
		return nil
	}
	body, err := json.Marshal(p.GatewayEndpoint)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO gateway_endpoints (endpoint_id, name, body) VALUES (?, ?, ?)
		ON CONFLICT (endpoint_id) DO UPDATE SET name = excluded.name, body = excluded.body`, p.ID, p.Name, string(body)); err != nil {
		return fmt.Errorf("write gateway endpoint: %w", err)
	}
	return nil
}

func applyGatewayBinding(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p tpGatewayBinding
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM gateway_bindings WHERE endpoint_id = ? AND resource_type = ? AND resource_id = ?`,
		p.EndpointID, p.ResourceType, p.ResourceID); err != nil {
		return fmt.Errorf("delete gateway binding: %w", err)
	}
	if p.Delete {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO gateway_bindings (endpoint_id, resource_type, resource_id, created_by,
		created_ms, updated_by, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.EndpointID, p.ResourceType, p.ResourceID, p.CreatedBy, p.Created, p.UpdatedBy, p.Updated); err != nil {
		return fmt.Errorf("write gateway binding: %w", err)
	}
	return nil
}

// equalsWhere is the WHERE clause ("" when none) of the column, value
// pairs whose value is not "", each matched for equality, and its args.
func equalsWhere(colValues ...string) (string, []any) {
	var conds []string
	var args []any
	for i := 0; i+1 < len(colValues); i += 2 {
		if colValues[i+1] != "" {
			conds = append(conds, colValues[i]+" = ?")
			args = append(args, colValues[i+1])
		}
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ---- secrets ----

func notFoundGateway(what string, kv ...string) error {
	msg := what + " not found ("
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			msg += ", "
		}
		msg += kv[i] + "='" + kv[i+1] + "'"
	}
	return tandem.Errorf(tandem.ENOTFOUND, "%s)", msg)
}

const gatewaySecretCols = `secret_id, secret_name, masked_values, provider, auth_config, created_by, created_ms, updated_by, updated_ms`

func scanGatewaySecret(sc interface{ Scan(...any) error }) (tandem.GatewaySecret, error) {
	var g tandem.GatewaySecret
	var masked, auth string
	err := sc.Scan(&g.SecretID, &g.SecretName, &masked, &g.Provider, &auth, &g.CreatedBy, &g.Created, &g.UpdatedBy, &g.Updated)
	g.MaskedValues, g.AuthConfig = readJSONMap(masked), readJSONMap(auth)
	return g, err
}

func loadGatewaySecret(ctx context.Context, q Querier, col, v string) (*tandem.GatewaySecret, error) {
	g, err := scanGatewaySecret(q.QueryRowContext(ctx, `SELECT `+gatewaySecretCols+` FROM gateway_secrets WHERE `+col+` = ?`, v))
	if IsNoRows(err) {
		return nil, notFoundGateway("GatewaySecret", col, v)
	}
	if err != nil {
		return nil, fmt.Errorf("read gateway secret: %w", err)
	}
	return &g, nil
}

// CreateGatewaySecret stores a gateway secret whose values the caller has
// checked, sealed (sealed) and masked (g.MaskedValues). It returns the
// secret's metadata with its id ("s-" and 32 hex digits). EEXISTS when the
// name is taken.
func (s *Store) CreateGatewaySecret(ctx context.Context, g tandem.GatewaySecret, sealed string) (*tandem.GatewaySecret, error) {
	if g.SecretName == "" {
		return nil, tandem.MissingParam("secret_name")
	}
	if err := tandem.CheckTexts(map[string]string{"secret_name": g.SecretName, "provider": g.Provider, "created_by": g.CreatedBy}); err != nil {
		return nil, err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := loadGatewaySecret(ctx, tx, "secret_name", g.SecretName); err == nil {
			return nil, tandem.Errorf(tandem.EEXISTS, "Secret with name '%s' already exists", g.SecretName)
		} else if tandem.ErrorCode(err) != tandem.ENOTFOUND {
			return nil, err
		}
		g.SecretID = "s-" + newUUIDHex()
		g.Created = nowMillis()
		g.Updated, g.UpdatedBy = g.Created, g.CreatedBy
		return &Change{Op: OpGatewaySecret, Key: g.SecretID, Payload: &tpGatewaySecret{GatewaySecret: g, Sealed: sealed}}, nil
	})
	if err != nil {
		return nil, err
	}
	return &g, nil
}

// GetGatewaySecret returns a secret's metadata by id (ENOTFOUND).
func (s *Store) GetGatewaySecret(ctx context.Context, id string) (*tandem.GatewaySecret, error) {
	return loadGatewaySecret(ctx, s.Reader(), "secret_id", id)
}

// ListGatewaySecrets lists the secrets' metadata (of one provider when
// provider is not ""), oldest first.
func (s *Store) ListGatewaySecrets(ctx context.Context, provider string) ([]tandem.GatewaySecret, error) {
	where, args := equalsWhere("provider", provider)
	rows, err := s.Reader().QueryContext(ctx, `SELECT `+gatewaySecretCols+` FROM gateway_secrets`+where+` ORDER BY created_ms, secret_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list gateway secrets: %w", err)
	}
	defer rows.Close()
	var out []tandem.GatewaySecret
	for rows.Next() {
		g, err := scanGatewaySecret(rows)
		if err != nil {
			return nil, fmt.Errorf("list gateway secrets: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// UpdateGatewaySecret rotates a secret's values or changes its auth
// configuration (ENOTFOUND).
func (s *Store) UpdateGatewaySecret(ctx context.Context, id string, u tandem.GatewaySecretUpdate) (*tandem.GatewaySecret, error) {
	if err := tandem.CheckText("updated_by", u.UpdatedBy); err != nil {
		return nil, err
	}
	var out tandem.GatewaySecret
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		cur, err := loadGatewaySecret(ctx, tx, "secret_id", id)
		if err != nil {
			return nil, err
		}
		sealed := u.Sealed
		if sealed == "" {
			if err := tx.QueryRowContext(ctx, `SELECT sealed_value FROM gateway_secrets WHERE secret_id = ?`, id).Scan(&sealed); err != nil {
				return nil, fmt.Errorf("read gateway secret: %w", err)
			}
		} else {
			cur.MaskedValues = u.Masked
		}
		if u.AuthConfig != nil {
			cur.AuthConfig = u.AuthConfig
		}
		cur.UpdatedBy = u.UpdatedBy
		cur.Updated = max(nowMillis(), cur.Updated)
		out = *cur
		return &Change{Op: OpGatewaySecret, Key: id, Payload: &tpGatewaySecret{GatewaySecret: *cur, Sealed: sealed}}, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteGatewaySecret deletes a secret for good; the model definitions
// that used it are left without one (ENOTFOUND).
func (s *Store) DeleteGatewaySecret(ctx context.Context, id string) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := loadGatewaySecret(ctx, tx, "secret_id", id); err != nil {
			return nil, err
		}
		return &Change{Op: OpGatewaySecret, Key: id, Payload: &tpGatewaySecret{GatewaySecret: tandem.GatewaySecret{SecretID: id}, Delete: true}}, nil
	})
	return err
}

// ---- model definitions ----

const gatewayModelCols = `d.model_definition_id, d.name, d.secret_id, COALESCE(s.secret_name, ''), d.provider, d.model_name,
	d.created_by, d.created_ms, d.updated_by, d.updated_ms`

const gatewayModelFrom = ` FROM gateway_model_definitions d LEFT JOIN gateway_secrets s ON s.secret_id = d.secret_id`

func scanGatewayModel(sc interface{ Scan(...any) error }) (tandem.GatewayModelDefinition, error) {
	var d tandem.GatewayModelDefinition
	err := sc.Scan(&d.ID, &d.Name, &d.SecretID, &d.SecretName, &d.Provider, &d.ModelName, &d.CreatedBy, &d.Created, &d.UpdatedBy, &d.Updated)
	return d, err
}

func loadGatewayModels(ctx context.Context, q Querier, where string, args ...any) ([]tandem.GatewayModelDefinition, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+gatewayModelCols+gatewayModelFrom+where+` ORDER BY d.created_ms, d.model_definition_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read gateway model definitions: %w", err)
	}
	defer rows.Close()
	var out []tandem.GatewayModelDefinition
	for rows.Next() {
		d, err := scanGatewayModel(rows)
		if err != nil {
			return nil, fmt.Errorf("read gateway model definitions: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func loadGatewayModel(ctx context.Context, q Querier, id string) (*tandem.GatewayModelDefinition, error) {
	ds, err := loadGatewayModels(ctx, q, ` WHERE d.model_definition_id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, notFoundGateway("GatewayModelDefinition", "model_definition_id", id)
	}
	return &ds[0], nil
}

func gatewayModelNameTaken(ctx context.Context, q Querier, name, except string) error {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM gateway_model_definitions WHERE name = ? AND model_definition_id <> ?`,
		name, except).Scan(&n); err != nil {
		return fmt.Errorf("check gateway model definition name: %w", err)
	}
	if n > 0 {
		return tandem.Errorf(tandem.EEXISTS, "Model definition with name '%s' already exists", name)
	}
	return nil
}

// CreateGatewayModelDefinition creates a model definition on an existing
// secret, with its id ("d-" and 32 hex digits). EEXISTS for a taken name.
func (s *Store) CreateGatewayModelDefinition(ctx context.Context, d tandem.GatewayModelDefinition) (*tandem.GatewayModelDefinition, error) {
	if err := tandem.RequireParams("name", d.Name, "secret_id", d.SecretID, "provider", d.Provider, "model_name", d.ModelName); err != nil {
		return nil, err
	}
	if err := tandem.CheckTexts(map[string]string{"name": d.Name, "secret_id": d.SecretID, "provider": d.Provider,
		"model_name": d.ModelName, "created_by": d.CreatedBy}); err != nil {
		return nil, err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		sec, err := loadGatewaySecret(ctx, tx, "secret_id", d.SecretID)
		if err != nil {
			return nil, err
		}
		if err := gatewayModelNameTaken(ctx, tx, d.Name, ""); err != nil {
			return nil, err
		}
		d.ID = "d-" + newUUIDHex()
		d.Created = nowMillis()
		d.Updated, d.UpdatedBy = d.Created, d.CreatedBy
		d.SecretName = sec.SecretName
		row := d
		row.SecretName = ""
		return &Change{Op: OpGatewayModel, Key: d.ID, Payload: &tpGatewayModel{GatewayModelDefinition: row}}, nil
	})
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// GetGatewayModelDefinition returns a model definition (ENOTFOUND).
func (s *Store) GetGatewayModelDefinition(ctx context.Context, id string) (*tandem.GatewayModelDefinition, error) {
	return loadGatewayModel(ctx, s.Reader(), id)
}

// ListGatewayModelDefinitions lists model definitions, of one provider
// and/or on one secret when those are not "".
func (s *Store) ListGatewayModelDefinitions(ctx context.Context, provider, secretID string) ([]tandem.GatewayModelDefinition, error) {
	where, args := equalsWhere("d.provider", provider, "d.secret_id", secretID)
	return loadGatewayModels(ctx, s.Reader(), where, args...)
}

// UpdateGatewayModelDefinition changes a model definition (ENOTFOUND for it
// or a new secret, EEXISTS for a taken name).
func (s *Store) UpdateGatewayModelDefinition(ctx context.Context, id string, u tandem.GatewayModelUpdate) (*tandem.GatewayModelDefinition, error) {
	if err := tandem.CheckTexts(map[string]string{"name": u.Name, "secret_id": u.SecretID, "provider": u.Provider,
		"model_name": u.ModelName, "updated_by": u.UpdatedBy}); err != nil {
		return nil, err
	}
	var out tandem.GatewayModelDefinition
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		cur, err := loadGatewayModel(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if u.Name != "" {
			if err := gatewayModelNameTaken(ctx, tx, u.Name, id); err != nil {
				return nil, err
			}
			cur.Name = u.Name
		}
		if u.SecretID != "" {
			sec, err := loadGatewaySecret(ctx, tx, "secret_id", u.SecretID)
			if err != nil {
				return nil, err
			}
			cur.SecretID, cur.SecretName = sec.SecretID, sec.SecretName
		}
		if u.ModelName != "" {
			cur.ModelName = u.ModelName
		}
		if u.Provider != "" {
			cur.Provider = u.Provider
		}
		if u.UpdatedBy != "" {
			cur.UpdatedBy = u.UpdatedBy
		}
		cur.Updated = max(nowMillis(), cur.Updated)
		out = *cur
		row := *cur
		row.SecretName = ""
		return &Change{Op: OpGatewayModel, Key: id, Payload: &tpGatewayModel{GatewayModelDefinition: row}}, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteGatewayModelDefinition deletes a model definition no endpoint uses
// (ENOTFOUND; EINVALIDSTATE while an endpoint has it).
func (s *Store) DeleteGatewayModelDefinition(ctx context.Context, id string) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := loadGatewayModel(ctx, tx, id); err != nil {
			return nil, err
		}
		eps, err := loadGatewayEndpointRows(ctx, tx, "", "")
		if err != nil {
			return nil, err
		}
		for _, ep := range eps {
			for _, m := range ep.Mappings {
				if m.ModelDefinitionID == id {
					return nil, tandem.Errorf(tandem.EINVALIDSTATE, "Cannot delete model definition that is currently in use by endpoints. Detach it from all endpoints first.")
				}
			}
		}
		return &Change{Op: OpGatewayModel, Key: id, Payload: &tpGatewayModel{GatewayModelDefinition: tandem.GatewayModelDefinition{ID: id}, Delete: true}}, nil
	})
	return err
}

// ---- endpoints ----

// loadGatewayEndpointRows reads endpoints as stored (their mappings
// without model definitions), of one id or name when given.
func loadGatewayEndpointRows(ctx context.Context, q Querier, col, v string) ([]tandem.GatewayEndpoint, error) {
	query, args := `SELECT body FROM gateway_endpoints`, []any{}
	if col != "" {
		query += ` WHERE ` + col + ` = ?`
		args = append(args, v)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read gateway endpoints: %w", err)
	}
	defer rows.Close()
	var out []tandem.GatewayEndpoint
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("read gateway endpoints: %w", err)
		}
		var ep tandem.GatewayEndpoint
		if err := json.Unmarshal([]byte(body), &ep); err != nil {
			return nil, fmt.Errorf("read gateway endpoint: %w", err)
		}
		out = append(out, ep)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Created != out[j].Created {
			return out[i].Created < out[j].Created
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func loadGatewayEndpointRow(ctx context.Context, q Querier, col, v string) (*tandem.GatewayEndpoint, error) {
	eps, err := loadGatewayEndpointRows(ctx, q, col, v)
	if err != nil {
		return nil, err
	}
	if len(eps) == 0 {
		return nil, notFoundGateway("GatewayEndpoint", col, v)
	}
	return &eps[0], nil
}

// withGatewayModels fills in each mapping's model definition (reading
// only the definitions the endpoints name).
func withGatewayModels(ctx context.Context, q Querier, eps []tandem.GatewayEndpoint) ([]tandem.GatewayEndpoint, error) {
	var ids []any
	seen := map[string]bool{}
	for _, ep := range eps {
		for _, m := range ep.Mappings {
			if !seen[m.ModelDefinitionID] {
				seen[m.ModelDefinitionID] = true
				ids = append(ids, m.ModelDefinitionID)
			}
		}
	}
	if len(ids) == 0 {
		return eps, nil
	}
	ds, err := loadGatewayModels(ctx, q, ` WHERE d.model_definition_id IN (`+placeholders(len(ids))+`)`, ids...)
	if err != nil {
		return nil, err
	}
	byID := map[string]tandem.GatewayModelDefinition{}
	for _, d := range ds {
		byID[d.ID] = d
	}
	for i := range eps {
		for j := range eps[i].Mappings {
			if d, ok := byID[eps[i].Mappings[j].ModelDefinitionID]; ok {
				eps[i].Mappings[j].ModelDefinition = &d
			}
		}
	}
	return eps, nil
}

func gatewayEndpointNameTaken(ctx context.Context, q Querier, name, except string) error {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM gateway_endpoints WHERE name = ? AND endpoint_id <> ?`, name, except).Scan(&n); err != nil {
		return fmt.Errorf("check gateway endpoint name: %w", err)
	}
	if n > 0 {
		return tandem.Errorf(tandem.EEXISTS, "Endpoint with name '%s' already exists", name)
	}
	return nil
}

// gatewayModelsExist checks that every model definition the configs name
// exists (ENOTFOUND naming the missing ones).
func gatewayModelsExist(ctx context.Context, q Querier, cfgs []tandem.GatewayModelConfig) error {
	var missing []string
	for _, c := range cfgs {
		if slices.Contains(missing, c.ModelDefinitionID) {
			continue
		}
		if _, err := loadGatewayModel(ctx, q, c.ModelDefinitionID); tandem.ErrorCode(err) == tandem.ENOTFOUND {
			missing = append(missing, c.ModelDefinitionID)
		} else if err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		return tandem.Errorf(tandem.ENOTFOUND, "Model definitions not found: %s", strings.Join(missing, ", "))
	}
	return nil
}

func gatewayMappings(endpointID string, cfgs []tandem.GatewayModelConfig, by string, now int64) []tandem.GatewayModelMapping {
	out := make([]tandem.GatewayModelMapping, 0, len(cfgs))
	for _, c := range cfgs {
		out = append(out, tandem.GatewayModelMapping{MappingID: "m-" + newUUIDHex(), EndpointID: endpointID,
			ModelDefinitionID: c.ModelDefinitionID, Weight: c.Weight, Created: now, CreatedBy: by,
			LinkageType: c.LinkageType, FallbackOrder: c.FallbackOrder})
	}
	return out
}

func checkGatewayConfigs(cfgs []tandem.GatewayModelConfig, list bool) error {
	for i, c := range cfgs {
		where := "model_config"
		if list {
			where = fmt.Sprintf("model_configs[%d]", i)
		}
		if err := tandem.ValidateGatewayModelConfig(c, where); err != nil {
			return err
		}
	}
	return nil
}

// gatewayExperiment returns the experiment an endpoint's usage traces go
// to: the one named when given (it must exist), else with tracking the
// experiment "gateway/NAME", made with MLflow's gateway tags or reused.
func (s *Store) gatewayExperiment(ctx context.Context, expID, name, endpointID string, tracking bool) (string, error) {
	if expID != "" {
		if _, _, err := experimentStage(ctx, s.Reader(), expID); err != nil {
			return "", err
		}
		return expID, nil
	}
	if !tracking {
		return "", nil
	}
	expName := "gateway/" + name
	id, err := s.CreateExperiment(ctx, expName, "", []tandem.Tag{{Key: "mlflow.experiment.sourceType", Value: "GATEWAY"},
		{Key: "mlflow.experiment.sourceId", Value: endpointID}, {Key: "mlflow.experiment.isGateway", Value: "true"}})
	if tandem.ErrorCode(err) == tandem.EEXISTS {
		e, gerr := s.GetExperimentByName(ctx, expName)
		if gerr != nil {
			return "", gerr
		}
		return e.ExperimentID, nil
	}
	return id, err
}

// CreateGatewayEndpoint creates an endpoint on existing model definitions
// (at least one), with its id ("e-" and 32 hex digits).
func (s *Store) CreateGatewayEndpoint(ctx context.Context, in tandem.GatewayEndpointInput) (*tandem.GatewayEndpoint, error) {
	if in.Name == "" {
		return nil, tandem.MissingParam("name")
	}
	if err := tandem.ValidateGatewayEndpointName(in.Name); err != nil {
		return nil, err
	}
	if len(in.Configs) == 0 {
		return nil, tandem.Errorf(tandem.EINVALID, "Endpoint must have at least one model configuration")
	}
	if err := checkGatewayConfigs(in.Configs, true); err != nil {
		return nil, err
	}
	if err := tandem.ValidateGatewayStrategies(in.RoutingStrategy, in.Fallback); err != nil {
		return nil, err
	}
	if err := tandem.CheckTexts(map[string]string{"created_by": in.CreatedBy, "experiment_id": in.ExperimentID}); err != nil {
		return nil, err
	}
	if in.UsageTracking && in.ExperimentID == "" {
		// Checked before the usage experiment is made, so a request
		// refused in the write makes none (the write checks again).
		q := s.Reader()
		if err := gatewayEndpointNameTaken(ctx, q, in.Name, ""); err != nil {
			return nil, err
		}
		if err := gatewayModelsExist(ctx, q, in.Configs); err != nil {
			return nil, err
		}
	}
	id := "e-" + newUUIDHex()
	expID, err := s.gatewayExperiment(ctx, in.ExperimentID, in.Name, id, in.UsageTracking)
	if err != nil {
		return nil, err
	}
	var ep tandem.GatewayEndpoint
	_, err = s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if err := gatewayEndpointNameTaken(ctx, tx, in.Name, ""); err != nil {
			return nil, err
		}
		if err := gatewayModelsExist(ctx, tx, in.Configs); err != nil {
			return nil, err
		}
		now := nowMillis()
		ep = tandem.GatewayEndpoint{ID: id, Name: in.Name, Created: now, Updated: now, CreatedBy: in.CreatedBy,
			UpdatedBy: in.CreatedBy, RoutingStrategy: in.RoutingStrategy, Fallback: in.Fallback, ExperimentID: expID,
			UsageTracking: in.UsageTracking, Mappings: gatewayMappings(id, in.Configs, in.CreatedBy, now)}
		return &Change{Op: OpGatewayEndpoint, Key: id, Payload: &tpGatewayEndpoint{GatewayEndpoint: ep}}, nil
	})
	if err != nil {
		return nil, err
	}
	out, err := withGatewayModels(ctx, s.Reader(), []tandem.GatewayEndpoint{ep})
	if err != nil {
		return nil, err
	}
	return &out[0], nil
}

// GetGatewayEndpoint returns an endpoint by id, or by name when id is ""
// (ENOTFOUND).
func (s *Store) GetGatewayEndpoint(ctx context.Context, id, name string) (*tandem.GatewayEndpoint, error) {
	col, v := "endpoint_id", id
	if id == "" {
		col, v = "name", name
	}
	ep, err := loadGatewayEndpointRow(ctx, s.Reader(), col, v)
	if err != nil {
		return nil, err
	}
	out, err := withGatewayModels(ctx, s.Reader(), []tandem.GatewayEndpoint{*ep})
	if err != nil {
		return nil, err
	}
	return &out[0], nil
}

// ListGatewayEndpoints lists endpoints, only those with a model of one
// provider and/or on one secret when those are not "".
func (s *Store) ListGatewayEndpoints(ctx context.Context, provider, secretID string) ([]tandem.GatewayEndpoint, error) {
	eps, err := loadGatewayEndpointRows(ctx, s.Reader(), "", "")
	if err != nil {
		return nil, err
	}
	eps, err = withGatewayModels(ctx, s.Reader(), eps)
	if err != nil {
		return nil, err
	}
	if provider == "" && secretID == "" {
		return eps, nil
	}
	out := eps[:0]
	for _, ep := range eps {
		if slices.ContainsFunc(ep.Mappings, func(m tandem.GatewayModelMapping) bool {
			d := m.ModelDefinition
			return d != nil && (provider == "" || d.Provider == provider) && (secretID == "" || d.SecretID == secretID)
		}) {
			out = append(out, ep)
		}
	}
	return out, nil
}

// UpdateGatewayEndpoint changes an endpoint (ENOTFOUND).
func (s *Store) UpdateGatewayEndpoint(ctx context.Context, id string, u tandem.GatewayEndpointUpdate) (*tandem.GatewayEndpoint, error) {
	if u.Name != "" {
		if err := tandem.ValidateGatewayEndpointName(u.Name); err != nil {
			return nil, err
		}
	}
	if err := checkGatewayConfigs(u.Configs, true); err != nil {
		return nil, err
	}
	if err := tandem.ValidateGatewayStrategies(u.RoutingStrategy, u.Fallback); err != nil {
		return nil, err
	}
	if err := tandem.CheckTexts(map[string]string{"updated_by": u.UpdatedBy, "experiment_id": u.ExperimentID}); err != nil {
		return nil, err
	}
	cur, err := loadGatewayEndpointRow(ctx, s.Reader(), "endpoint_id", id)
	if err != nil {
		return nil, err
	}
	expID := ""
	if u.ExperimentID != "" || (u.UsageTracking != nil && *u.UsageTracking && cur.ExperimentID == "") {
		// As for a create: the checks the write makes, made before the
		// usage experiment is, so a refused update makes none.
		name := cur.Name
		if u.Name != "" {
			if err := gatewayEndpointNameTaken(ctx, s.Reader(), u.Name, id); err != nil {
				return nil, err
			}
			name = u.Name
		}
		if err := gatewayModelsExist(ctx, s.Reader(), u.Configs); err != nil {
			return nil, err
		}
		if expID, err = s.gatewayExperiment(ctx, u.ExperimentID, name, id, true); err != nil {
			return nil, err
		}
	}
	var ep tandem.GatewayEndpoint
	err = s.changeGatewayEndpoint(ctx, id, func(ctx context.Context, tx *Tx, cur *tandem.GatewayEndpoint) error {
		if u.Name != "" {
			if err := gatewayEndpointNameTaken(ctx, tx, u.Name, id); err != nil {
				return err
			}
			cur.Name = u.Name
		}
		if err := gatewayModelsExist(ctx, tx, u.Configs); err != nil {
			return err
		}
		now := max(nowMillis(), cur.Updated)
		if u.UsageTracking != nil {
			cur.UsageTracking = *u.UsageTracking
		}
		if expID != "" {
			cur.ExperimentID = expID
		}
		if u.RoutingStrategy != "" {
			cur.RoutingStrategy = u.RoutingStrategy
		}
		if u.Configs != nil {
			cur.Mappings = gatewayMappings(id, u.Configs, u.UpdatedBy, now)
		}
		if u.Fallback != nil {
			cur.Fallback = u.Fallback
		}
		cur.Updated = now
		if u.UpdatedBy != "" {
			cur.UpdatedBy = u.UpdatedBy
		}
		ep = *cur
		return nil
	})
	if err != nil {
		return nil, err
	}
	out, err := withGatewayModels(ctx, s.Reader(), []tandem.GatewayEndpoint{ep})
	if err != nil {
		return nil, err
	}
	return &out[0], nil
}

// DeleteGatewayEndpoint deletes an endpoint with its mappings, tags and
// bindings (ENOTFOUND).
func (s *Store) DeleteGatewayEndpoint(ctx context.Context, id string) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := loadGatewayEndpointRow(ctx, tx, "endpoint_id", id); err != nil {
			return nil, err
		}
		return &Change{Op: OpGatewayEndpoint, Key: id, Payload: &tpGatewayEndpoint{GatewayEndpoint: tandem.GatewayEndpoint{ID: id}, Delete: true}}, nil
	})
	return err
}

// changeGatewayEndpoint rewrites one endpoint with change applied to it.
func (s *Store) changeGatewayEndpoint(ctx context.Context, id string, change func(ctx context.Context, tx *Tx, ep *tandem.GatewayEndpoint) error) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		ep, err := loadGatewayEndpointRow(ctx, tx, "endpoint_id", id)
		if err != nil {
			return nil, err
		}
		if err := change(ctx, tx, ep); err != nil {
			return nil, err
		}
		return &Change{Op: OpGatewayEndpoint, Key: id, Payload: &tpGatewayEndpoint{GatewayEndpoint: *ep}}, nil
	})
	return err
}

// AttachGatewayModel attaches a model definition to an endpoint (EEXISTS
// when it is attached with that linkage type already).
func (s *Store) AttachGatewayModel(ctx context.Context, endpointID string, c tandem.GatewayModelConfig, by string) (*tandem.GatewayModelMapping, error) {
	if err := checkGatewayConfigs([]tandem.GatewayModelConfig{c}, false); err != nil {
		return nil, err
	}
	if err := tandem.CheckText("created_by", by); err != nil {
		return nil, err
	}
	var m tandem.GatewayModelMapping
	err := s.changeGatewayEndpoint(ctx, endpointID, func(ctx context.Context, tx *Tx, ep *tandem.GatewayEndpoint) error {
		d, err := loadGatewayModel(ctx, tx, c.ModelDefinitionID)
		if err != nil {
			return err
		}
		for _, have := range ep.Mappings {
			if have.ModelDefinitionID == c.ModelDefinitionID && have.LinkageType == c.LinkageType {
				return tandem.Errorf(tandem.EEXISTS, "Model definition '%s' is already attached to endpoint '%s'", c.ModelDefinitionID, endpointID)
			}
		}
		now := max(nowMillis(), ep.Updated)
		m = gatewayMappings(endpointID, []tandem.GatewayModelConfig{c}, by, now)[0]
		ep.Mappings = append(ep.Mappings, m)
		ep.Updated = now
		if by != "" {
			ep.UpdatedBy = by
		}
		m.ModelDefinition = d
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// DetachGatewayModel removes the first attachment of a model definition
// from an endpoint (ENOTFOUND for the endpoint, or when it is not
// attached).
func (s *Store) DetachGatewayModel(ctx context.Context, endpointID, modelDefinitionID string) error {
	return s.changeGatewayEndpoint(ctx, endpointID, func(ctx context.Context, tx *Tx, ep *tandem.GatewayEndpoint) error {
		i := slices.IndexFunc(ep.Mappings, func(m tandem.GatewayModelMapping) bool { return m.ModelDefinitionID == modelDefinitionID })
		if i < 0 {
			return tandem.Errorf(tandem.ENOTFOUND, "Model definition '%s' is not attached to endpoint '%s'", modelDefinitionID, endpointID)
		}
		ep.Mappings = slices.Delete(ep.Mappings, i, i+1)
		ep.Updated = max(nowMillis(), ep.Updated)
		return nil
	})
}

// SetGatewayEndpointTag sets one tag of an endpoint.
func (s *Store) SetGatewayEndpointTag(ctx context.Context, endpointID, key, value string) error {
	if key == "" {
		return tandem.MissingParam("key")
	}
	if err := tandem.CheckTexts(map[string]string{"key": key, "value": value}); err != nil {
		return err
	}
	return s.changeGatewayEndpoint(ctx, endpointID, func(_ context.Context, _ *Tx, ep *tandem.GatewayEndpoint) error {
		if i := slices.IndexFunc(ep.Tags, func(t tandem.GatewayTag) bool { return t.Key == key }); i >= 0 {
			ep.Tags[i].Value = value
			return nil
		}
		ep.Tags = append(ep.Tags, tandem.GatewayTag{Key: key, Value: value})
		return nil
	})
}

// DeleteGatewayEndpointTag removes one tag of an endpoint (none is fine).
func (s *Store) DeleteGatewayEndpointTag(ctx context.Context, endpointID, key string) error {
	return s.changeGatewayEndpoint(ctx, endpointID, func(_ context.Context, _ *Tx, ep *tandem.GatewayEndpoint) error {
		ep.Tags = slices.DeleteFunc(ep.Tags, func(t tandem.GatewayTag) bool { return t.Key == key })
		return nil
	})
}

// ---- bindings ----

const gatewayBindingCols = `endpoint_id, resource_type, resource_id, created_by, created_ms, updated_by, updated_ms`

// CreateGatewayBinding binds an endpoint to a resource (EEXISTS when it is
// bound to it already).
func (s *Store) CreateGatewayBinding(ctx context.Context, b tandem.GatewayBinding) (*tandem.GatewayBinding, error) {
	if err := tandem.RequireParams("endpoint_id", b.EndpointID, "resource_type", b.ResourceType, "resource_id", b.ResourceID); err != nil {
		return nil, err
	}
	if err := tandem.ValidateGatewayResourceType(b.ResourceType); err != nil {
		return nil, err
	}
	if err := tandem.CheckTexts(map[string]string{"resource_id": b.ResourceID, "created_by": b.CreatedBy}); err != nil {
		return nil, err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := loadGatewayEndpointRow(ctx, tx, "endpoint_id", b.EndpointID); err != nil {
			return nil, err
		}
		have, err := loadGatewayBindings(ctx, tx, b.EndpointID, b.ResourceType, b.ResourceID)
		if err != nil {
			return nil, err
		}
		if len(have) > 0 {
			return nil, tandem.Errorf(tandem.EEXISTS, "Endpoint '%s' is already bound to %s '%s'", b.EndpointID, b.ResourceType, b.ResourceID)
		}
		b.Created = nowMillis()
		b.Updated, b.UpdatedBy = b.Created, b.CreatedBy
		return &Change{Op: OpGatewayBinding, Key: b.EndpointID, Payload: &tpGatewayBinding{GatewayBinding: b}}, nil
	})
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// DeleteGatewayBinding removes a binding (ENOTFOUND).
func (s *Store) DeleteGatewayBinding(ctx context.Context, endpointID, resourceType, resourceID string) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		have, err := loadGatewayBindings(ctx, tx, endpointID, resourceType, resourceID)
		if err != nil {
			return nil, err
		}
		if endpointID == "" || resourceType == "" || resourceID == "" || len(have) == 0 {
			return nil, notFoundGateway("GatewayEndpointBinding", "endpoint_id", endpointID, "resource_type", resourceType, "resource_id", resourceID)
		}
		return &Change{Op: OpGatewayBinding, Key: endpointID, Payload: &tpGatewayBinding{GatewayBinding: have[0], Delete: true}}, nil
	})
	return err
}

// ListGatewayBindings lists bindings, filtered by what is not "".
func (s *Store) ListGatewayBindings(ctx context.Context, endpointID, resourceType, resourceID string) ([]tandem.GatewayBinding, error) {
	return loadGatewayBindings(ctx, s.Reader(), endpointID, resourceType, resourceID)
}

func loadGatewayBindings(ctx context.Context, q Querier, endpointID, resourceType, resourceID string) ([]tandem.GatewayBinding, error) {
	where, args := equalsWhere("endpoint_id", endpointID, "resource_type", resourceType, "resource_id", resourceID)
	rows, err := q.QueryContext(ctx, `SELECT `+gatewayBindingCols+` FROM gateway_bindings`+where+` ORDER BY created_ms, endpoint_id, resource_type, resource_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read gateway bindings: %w", err)
	}
	defer rows.Close()
	var out []tandem.GatewayBinding
	for rows.Next() {
		var b tandem.GatewayBinding
		if err := rows.Scan(&b.EndpointID, &b.ResourceType, &b.ResourceID, &b.CreatedBy, &b.Created, &b.UpdatedBy, &b.Updated); err != nil {
			return nil, fmt.Errorf("read gateway bindings: %w", err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}
