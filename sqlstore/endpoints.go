package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/tandemml/tandem"
)

// Journal ops of online endpoints and deployments (kind endpoints). Their
// payloads carry whole rows, so applying one is a plain upsert or delete.
const (
	opEndpointPut      = "endpoint.put"
	opEndpointDelete   = "endpoint.delete"
	opDeploymentPut    = "deployment.put"
	opDeploymentDelete = "deployment.delete"
)

func (s *Store) registerEndpoints() {
	k := tandem.KindEndpoints
	s.register(opEndpointPut, k, applyEndpointPut)
	s.register(opEndpointDelete, k, applyEndpointDelete)
	s.register(opDeploymentPut, k, applyDeploymentPut)
	s.register(opDeploymentDelete, k, applyDeploymentDelete)
}

var _ tandem.EndpointStore = (*Store)(nil)

type endpointRow struct {
	Endpoint   tandem.OnlineEndpoint `json:"endpoint"`
	KeysSealed string                `json:"keys_sealed"`
}

type deploymentRow struct {
	Deployment tandem.OnlineDeployment `json:"deployment"`
}

type endpointKey struct {
	Endpoint string `json:"endpoint"`
	Name     string `json:"name,omitempty"`
}

// PutEndpoint creates or replaces an endpoint (see PutMode). newKeys are
// the sealed keys a new endpoint gets; an existing one keeps its own (and
// its creation time). The traffic must name existing deployments. Returns
// the endpoint as stored. Primary only.
func (s *Store) PutEndpoint(ctx context.Context, ep tandem.OnlineEndpoint, newKeys string, mode tandem.PutMode, checks ...tandem.FleetCheck) (*tandem.OnlineEndpoint, error) {
	if err := ep.Normalize(); err != nil {
		return nil, err
	}
	var out tandem.OnlineEndpoint
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		cur, sealed, err := getEndpoint(ctx, tx, ep.Name)
		exists := err == nil
		switch {
		case err != nil && tandem.ErrorCode(err) != tandem.ENOTFOUND:
			return nil, err
		case exists && mode == tandem.PutCreate:
			return nil, tandem.Errorf(tandem.EEXISTS, "online endpoint %s already exists: use update", ep.Name)
		case !exists && mode == tandem.PutUpdate:
			return nil, err
		}
		names, err := deploymentNames(ctx, tx, ep.Name)
		if err != nil {
			return nil, err
		}
		if err := ep.CheckDeployments(names); err != nil {
			return nil, err
		}
		row := endpointRow{Endpoint: ep, KeysSealed: newKeys}
		row.Endpoint.UpdatedMS = nowMillis()
		row.Endpoint.CreatedMS = row.Endpoint.UpdatedMS
		if exists {
			row.Endpoint.CreatedMS, row.KeysSealed = cur.CreatedMS, sealed
		}
		if row.KeysSealed == "" {
			return nil, tandem.Errorf(tandem.EINVALID, "online endpoint %s: no keys to store", ep.Name)
		}
		if err := checkFleet(ctx, tx, checks, &row.Endpoint, nil); err != nil {
			return nil, err
		}
		out = row.Endpoint
		return &Change{Op: opEndpointPut, Key: ep.Name, Payload: row}, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ReplaceEndpointKeys stores newKeys as the endpoint's sealed keys if its
// keys are still oldKeys (ECONFLICT otherwise: another regeneration won).
// Primary only.
func (s *Store) ReplaceEndpointKeys(ctx context.Context, name, oldKeys, newKeys string) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		cur, sealed, err := getEndpoint(ctx, tx, name)
		if err != nil {
			return nil, err
		}
		if sealed != oldKeys {
			return nil, tandem.Errorf(tandem.ECONFLICT, "the keys of online endpoint %s changed meanwhile: try again", name)
		}
		cur.UpdatedMS = nowMillis()
		return &Change{Op: opEndpointPut, Key: name, Payload: endpointRow{Endpoint: *cur, KeysSealed: newKeys}}, nil
	})
	return err
}

// DeleteEndpoint deletes an endpoint and every deployment of it.
// ENOTFOUND. Primary only.
func (s *Store) DeleteEndpoint(ctx context.Context, name string) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, _, err := getEndpoint(ctx, tx, name); err != nil {
			return nil, err
		}
		return &Change{Op: opEndpointDelete, Key: name, Payload: endpointKey{Endpoint: name}}, nil
	})
	return err
}

// PutDeployment creates or replaces a deployment of an existing endpoint
// (see PutMode). Its model reference is resolved against the registry now
// (an alias to its current version), so every region serves the same
// version; a model version that does not exist is EINVALID and nothing is
// written. Primary only.
func (s *Store) PutDeployment(ctx context.Context, d tandem.OnlineDeployment, mode tandem.PutMode, checks ...tandem.FleetCheck) (*tandem.OnlineDeployment, error) {
	if err := d.Normalize(); err != nil {
		return nil, err
	}
	var out tandem.OnlineDeployment
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, _, err := getEndpoint(ctx, tx, d.Endpoint); err != nil {
			return nil, err
		}
		cur, err := getDeployment(ctx, tx, d.Endpoint, d.Name)
		exists := err == nil
		switch {
		case err != nil && tandem.ErrorCode(err) != tandem.ENOTFOUND:
			return nil, err
		case exists && mode == tandem.PutCreate:
			return nil, tandem.Errorf(tandem.EEXISTS, "deployment %s of online endpoint %s already exists: use update", d.Name, d.Endpoint)
		case !exists && mode == tandem.PutUpdate:
			return nil, err
		}
		name, version, err := resolveModelRef(ctx, tx, d.Model)
		if err != nil {
			return nil, err
		}
		row := d
		row.ModelName, row.ModelVersion = name, version
		row.UpdatedMS = nowMillis()
		row.CreatedMS = row.UpdatedMS
		if exists {
			row.CreatedMS = cur.CreatedMS
		}
		if err := checkFleet(ctx, tx, checks, nil, &row); err != nil {
			return nil, err
		}
		out = row
		return &Change{Op: opDeploymentPut, Key: d.Endpoint + "/" + d.Name, Payload: deploymentRow{Deployment: row}}, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// resolveModelRef finds the registered model version ref names.
func resolveModelRef(ctx context.Context, q Querier, ref string) (string, int64, error) {
	name, version, alias, err := tandem.ParseModelRef(ref)
	if err != nil {
		return "", 0, err
	}
	if alias != "" {
		err := q.QueryRowContext(ctx, `SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?`, name, alias).Scan(&version)
		if IsNoRows(err) {
			return "", 0, tandem.Errorf(tandem.EINVALID, "model %s: registered model %s has no alias %s", ref, name, alias)
		} else if err != nil {
			return "", 0, fmt.Errorf("resolve alias: %w", err)
		}
	}
	var n int
	err = q.QueryRowContext(ctx, `SELECT COUNT(*) FROM model_versions WHERE name = ? AND version = ? AND current_stage <> ?`,
		name, version, tandem.StageDeletedInternal).Scan(&n)
	if err != nil {
		return "", 0, fmt.Errorf("resolve model: %w", err)
	}
	if n == 0 {
		return "", 0, tandem.Errorf(tandem.EINVALID, "model %s: version %d of registered model %s does not exist", ref, version, name)
	}
	return name, version, nil
}

// DeleteDeployment deletes a deployment. One that still receives live or
// mirrored traffic is refused (ECONFLICT): set its traffic to 0 first, as
// Azure ML asks. ENOTFOUND. Primary only.
func (s *Store) DeleteDeployment(ctx context.Context, endpoint, name string) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		ep, _, err := getEndpoint(ctx, tx, endpoint)
		if err != nil {
			return nil, err
		}
		if _, err := getDeployment(ctx, tx, endpoint, name); err != nil {
			return nil, err
		}
		if ep.Traffic[name] > 0 || ep.MirrorTraffic[name] > 0 {
			return nil, tandem.Errorf(tandem.ECONFLICT, "deployment %s of online endpoint %s still receives traffic: update the endpoint's traffic first", name, endpoint)
		}
		return &Change{Op: opDeploymentDelete, Key: endpoint + "/" + name, Payload: endpointKey{Endpoint: endpoint, Name: name}}, nil
	})
	return err
}

func applyEndpointPut(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p endpointRow
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	body, err := json.Marshal(p.Endpoint)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO online_endpoints (name, body, keys_sealed, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET body = excluded.body, keys_sealed = excluded.keys_sealed, created_ms = excluded.created_ms, updated_ms = excluded.updated_ms`,
		p.Endpoint.Name, string(body), p.KeysSealed, p.Endpoint.CreatedMS, p.Endpoint.UpdatedMS)
	return err
}

func applyEndpointDelete(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p endpointKey
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM online_deployments WHERE endpoint = ?`, p.Endpoint); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM online_endpoints WHERE name = ?`, p.Endpoint)
	return err
}

func applyDeploymentPut(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p deploymentRow
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	d := p.Deployment
	body, err := json.Marshal(d)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO online_deployments (endpoint, name, body, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (endpoint, name) DO UPDATE SET body = excluded.body, created_ms = excluded.created_ms, updated_ms = excluded.updated_ms`,
		d.Endpoint, d.Name, string(body), d.CreatedMS, d.UpdatedMS)
	return err
}

func applyDeploymentDelete(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p endpointKey
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM online_deployments WHERE endpoint = ? AND name = ?`, p.Endpoint, p.Name)
	return err
}

func getEndpoint(ctx context.Context, q Querier, name string) (*tandem.OnlineEndpoint, string, error) {
	var body, sealed string
	err := q.QueryRowContext(ctx, `SELECT body, keys_sealed FROM online_endpoints WHERE name = ?`, name).Scan(&body, &sealed)
	if IsNoRows(err) {
		return nil, "", tandem.Errorf(tandem.ENOTFOUND, "online endpoint %s not found", name)
	} else if err != nil {
		return nil, "", fmt.Errorf("read online endpoint: %w", err)
	}
	var ep tandem.OnlineEndpoint
	if err := json.Unmarshal([]byte(body), &ep); err != nil {
		return nil, "", fmt.Errorf("online endpoint %s: %w", name, err)
	}
	return &ep, sealed, nil
}

func getDeployment(ctx context.Context, q Querier, endpoint, name string) (*tandem.OnlineDeployment, error) {
	var body string
	err := q.QueryRowContext(ctx, `SELECT body FROM online_deployments WHERE endpoint = ? AND name = ?`, endpoint, name).Scan(&body)
	if IsNoRows(err) {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "deployment %s of online endpoint %s not found", name, endpoint)
	} else if err != nil {
		return nil, fmt.Errorf("read deployment: %w", err)
	}
	var d tandem.OnlineDeployment
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		return nil, fmt.Errorf("deployment %s/%s: %w", endpoint, name, err)
	}
	return &d, nil
}

func deploymentNames(ctx context.Context, q Querier, endpoint string) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM online_deployments WHERE endpoint = ?`, endpoint)
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out[n] = true
	}
	return out, rows.Err()
}

// GetEndpoint returns an endpoint (never its keys). ENOTFOUND.
func (s *Store) GetEndpoint(ctx context.Context, name string) (*tandem.OnlineEndpoint, error) {
	ep, _, err := getEndpoint(ctx, s.Reader(), name)
	return ep, err
}

// EndpointKeysSealed returns an endpoint's sealed keys, for the code that
// opens them (scoring checks, get-credentials). ENOTFOUND.
func (s *Store) EndpointKeysSealed(ctx context.Context, name string) (string, error) {
	_, sealed, err := getEndpoint(ctx, s.Reader(), name)
	return sealed, err
}

// ListEndpoints returns every endpoint, by name.
func (s *Store) ListEndpoints(ctx context.Context) ([]*tandem.OnlineEndpoint, error) {
	return listEndpoints(ctx, s.Reader())
}

func listEndpoints(ctx context.Context, q Querier) ([]*tandem.OnlineEndpoint, error) {
	rows, err := q.QueryContext(ctx, `SELECT body FROM online_endpoints ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list online endpoints: %w", err)
	}
	defer rows.Close()
	out := []*tandem.OnlineEndpoint{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		var ep tandem.OnlineEndpoint
		if err := json.Unmarshal([]byte(body), &ep); err != nil {
			return nil, fmt.Errorf("online endpoint: %w", err)
		}
		out = append(out, &ep)
	}
	return out, rows.Err()
}

// GetDeployment returns one deployment. ENOTFOUND.
func (s *Store) GetDeployment(ctx context.Context, endpoint, name string) (*tandem.OnlineDeployment, error) {
	return getDeployment(ctx, s.Reader(), endpoint, name)
}

// ListDeployments returns the deployments of endpoint ("" : of every
// endpoint), by endpoint and name. An unknown endpoint is ENOTFOUND.
func (s *Store) ListDeployments(ctx context.Context, endpoint string) ([]*tandem.OnlineDeployment, error) {
	return listDeployments(ctx, s.Reader(), endpoint)
}

func listDeployments(ctx context.Context, q Querier, endpoint string) ([]*tandem.OnlineDeployment, error) {
	var rows *sql.Rows
	var err error
	if endpoint == "" {
		rows, err = q.QueryContext(ctx, `SELECT body FROM online_deployments ORDER BY endpoint, name`)
	} else {
		if _, _, err := getEndpoint(ctx, q, endpoint); err != nil {
			return nil, err
		}
		rows, err = q.QueryContext(ctx, `SELECT body FROM online_deployments WHERE endpoint = ? ORDER BY name`, endpoint)
	}
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	defer rows.Close()
	out := []*tandem.OnlineDeployment{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		var d tandem.OnlineDeployment
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			return nil, fmt.Errorf("deployment: %w", err)
		}
		out = append(out, &d)
	}
	return out, rows.Err()
}

// checkFleet runs checks on every endpoint and deployment as they are and
// as the write of ep or d would leave them, read in the write's own
// transaction: two writes cannot both pass a check each would pass alone.
func checkFleet(ctx context.Context, tx *Tx, checks []tandem.FleetCheck, ep *tandem.OnlineEndpoint, d *tandem.OnlineDeployment) error {
	if len(checks) == 0 {
		return nil
	}
	eps, err := listEndpoints(ctx, tx)
	if err != nil {
		return err
	}
	ds, err := listDeployments(ctx, tx, "")
	if err != nil {
		return err
	}
	afterEps, afterDs := append([]*tandem.OnlineEndpoint(nil), eps...), append([]*tandem.OnlineDeployment(nil), ds...)
	if ep != nil {
		afterEps = replaceEndpoint(afterEps, ep)
	}
	if d != nil {
		afterDs = replaceDeployment(afterDs, d)
	}
	for _, c := range checks {
		if err := c(tandem.Fleet{Endpoints: eps, Deployments: ds}, tandem.Fleet{Endpoints: afterEps, Deployments: afterDs}); err != nil {
			return err
		}
	}
	return nil
}

func replaceEndpoint(eps []*tandem.OnlineEndpoint, ep *tandem.OnlineEndpoint) []*tandem.OnlineEndpoint {
	for i, x := range eps {
		if x.Name == ep.Name {
			eps[i] = ep
			return eps
		}
	}
	return append(eps, ep)
}

func replaceDeployment(ds []*tandem.OnlineDeployment, d *tandem.OnlineDeployment) []*tandem.OnlineDeployment {
	for i, x := range ds {
		if x.Endpoint == d.Endpoint && x.Name == d.Name {
			ds[i] = d
			return ds
		}
	}
	return append(ds, d)
}
