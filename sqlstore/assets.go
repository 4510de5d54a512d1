package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tandemml/tandem"
)

// Asset ops. Payloads are fully resolved: version, times and the encrypted
// secret are chosen in prepare, so applying is deterministic.
const (
	opAssetCreate  = "asset.create"
	opAssetUpdate  = "asset.update"
	opAssetArchive = "asset.archive"
)

func (s *Store) registerAssets() {
	for _, k := range tandem.AssetKinds {
		if k == tandem.AssetModel {
			continue // models are the MLflow registry (registry.go)
		}
		s.register(opAssetCreate+"."+string(k), k.JournalKind(), applyAssetCreate)
		s.register(opAssetUpdate+"."+string(k), k.JournalKind(), applyAssetUpdate)
		s.register(opAssetArchive+"."+string(k), k.JournalKind(), applyAssetArchive)
	}
}

type assetCreatePayload struct {
	Asset  *tandem.Asset `json:"asset"`
	Secret string        `json:"secret,omitempty"` // encrypted credentials, base64
}

type assetUpdatePayload struct {
	Kind        tandem.AssetKind  `json:"kind"`
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Description *string           `json:"description,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	SetTags     bool              `json:"set_tags,omitempty"`
	UpdatedMS   int64             `json:"updated_ms"`
}

type assetArchivePayload struct {
	Kind      tandem.AssetKind `json:"kind"`
	Name      string           `json:"name"`
	Version   string           `json:"version,omitempty"` // "" = every version
	Archived  bool             `json:"archived"`
	UpdatedMS int64            `json:"updated_ms"`
}

// CreateAsset records a new asset version (or, for a datastore, creates or
// replaces its definition). Its files must already be in artifact storage
// with the digests listed in a.Files. An empty version becomes the next
// integer. secret is the datastore's encrypted credentials ("" keeps the
// stored ones when a datastore is replaced and still points at the same
// storage; pointing it elsewhere without new credentials is EINVALID).
// Errors: EINVALID, EEXISTS when the version exists (versions are
// immutable).
func (s *Store) CreateAsset(ctx context.Context, a *tandem.Asset, secret string, blobs []tandem.BlobRef) (*tandem.Asset, error) {
	if a.Kind == tandem.AssetModel {
		return nil, tandem.Errorf(tandem.EINVALID, "models are kept in the model registry, not as generic assets")
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	out := *a
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		now := time.Now().UnixMilli()
		out.CreatedMS, out.UpdatedMS, out.Archived = now, now, false
		if !out.Kind.Versioned() {
			out.Version = ""
			if old, err := getAsset(ctx, tx, out.Kind, out.Name, ""); err == nil {
				out.CreatedMS = old.CreatedMS
				if secret == "" {
					secret, err = assetSecret(ctx, tx, out.Kind, out.Name)
					if err != nil {
						return nil, err
					}
					if err := keepSecretFor(&out, old, secret); err != nil {
						return nil, err
					}
				}
			} else if tandem.ErrorCode(err) != tandem.ENOTFOUND {
				return nil, err
			}
		} else if out.Version == "" {
			vs, err := assetVersions(ctx, tx, out.Kind, out.Name)
			if err != nil {
				return nil, err
			}
			out.Version = tandem.NextVersion(vs)
		} else if _, err := getAsset(ctx, tx, out.Kind, out.Name, out.Version); err == nil {
			return nil, tandem.Errorf(tandem.EEXISTS, "%s %s version %s already exists; versions cannot be changed, create a new version", out.Kind, out.Name, out.Version)
		} else if tandem.ErrorCode(err) != tandem.ENOTFOUND {
			return nil, err
		}
		return &Change{Op: opAssetCreate + "." + string(out.Kind), Key: assetKey(out.Kind, out.Name, out.Version),
			Payload: assetCreatePayload{Asset: &out, Secret: secret}, Blobs: blobs}, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func assetKey(k tandem.AssetKind, name, version string) string {
	if version == "" {
		return string(k) + "/" + name
	}
	return string(k) + "/" + name + "/" + version
}

func applyAssetCreate(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p assetCreatePayload
	if err := json.Unmarshal(e.Payload, &p); err != nil || p.Asset == nil {
		return fmt.Errorf("asset create payload: %v", err)
	}
	a := p.Asset
	spec, err := json.Marshal(a.Spec)
	if err != nil {
		return err
	}
	tags, _ := json.Marshal(nonNilTags(a.Tags))
	files, _ := json.Marshal(nonNilFiles(a.Files))
	_, err = tx.ExecContext(ctx, `INSERT INTO assets (kind, name, version, seq, description, tags, spec, files, secret, archived, created_ms, updated_ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)
ON CONFLICT (kind, name, version) DO UPDATE SET seq = excluded.seq, description = excluded.description, tags = excluded.tags,
 spec = excluded.spec, files = excluded.files, secret = excluded.secret, archived = 0, created_ms = excluded.created_ms, updated_ms = excluded.updated_ms`,
		string(a.Kind), a.Name, a.Version, e.Seq, a.Description, string(tags), string(spec), string(files), nullString(p.Secret), a.CreatedMS, a.UpdatedMS)
	if err != nil {
		return fmt.Errorf("insert asset: %w", err)
	}
	return nil
}

func nonNilTags(t map[string]string) map[string]string {
	if t == nil {
		return map[string]string{}
	}
	return t
}

func nonNilFiles(f []tandem.AssetFile) []tandem.AssetFile {
	if f == nil {
		return []tandem.AssetFile{}
	}
	return f
}

// UpdateAsset changes the description and/or tags (replacing all tags when
// tags is not nil) of one version; nothing else of a version can change.
// Errors: ENOTFOUND, EINVALID.
func (s *Store) UpdateAsset(ctx context.Context, kind tandem.AssetKind, name, version string, description *string, tags map[string]string) (*tandem.Asset, error) {
	if err := tandem.ValidateTags(tags); err != nil {
		return nil, err
	}
	if description != nil && len(*description) > 5000 {
		return nil, tandem.Errorf(tandem.EINVALID, "description is longer than 5000 characters")
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		a, err := getAsset(ctx, tx, kind, name, version)
		if err != nil {
			return nil, err
		}
		return &Change{Op: opAssetUpdate + "." + string(kind), Key: assetKey(kind, name, a.Version),
			Payload: assetUpdatePayload{Kind: kind, Name: name, Version: a.Version, Description: description,
				Tags: tags, SetTags: tags != nil, UpdatedMS: time.Now().UnixMilli()}}, nil
	})
	if err != nil {
		return nil, err
	}
	return s.GetAsset(ctx, kind, name, version)
}

func applyAssetUpdate(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p assetUpdatePayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("asset update payload: %w", err)
	}
	if p.Description != nil {
		if _, err := tx.ExecContext(ctx, `UPDATE assets SET description = ?, updated_ms = ? WHERE kind = ? AND name = ? AND version = ?`,
			*p.Description, p.UpdatedMS, string(p.Kind), p.Name, p.Version); err != nil {
			return err
		}
	}
	if p.SetTags {
		tags, _ := json.Marshal(nonNilTags(p.Tags))
		if _, err := tx.ExecContext(ctx, `UPDATE assets SET tags = ?, updated_ms = ? WHERE kind = ? AND name = ? AND version = ?`,
			string(tags), p.UpdatedMS, string(p.Kind), p.Name, p.Version); err != nil {
			return err
		}
	}
	return nil
}

// ArchiveAsset archives (archived=true) or restores one version, or every
// version when version is "". Archived versions are hidden from lists and
// from "latest" but stay readable by explicit version. Errors: ENOTFOUND.
func (s *Store) ArchiveAsset(ctx context.Context, kind tandem.AssetKind, name, version string, archived bool) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if version != "" || !kind.Versioned() {
			a, err := getAsset(ctx, tx, kind, name, version)
			if err != nil {
				return nil, err
			}
			version = a.Version
		} else if vs, err := assetVersions(ctx, tx, kind, name); err != nil {
			return nil, err
		} else if len(vs) == 0 {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "%s %s not found", kind, name)
		}
		key := assetKey(kind, name, version)
		return &Change{Op: opAssetArchive + "." + string(kind), Key: key,
			Payload: assetArchivePayload{Kind: kind, Name: name, Version: version, Archived: archived, UpdatedMS: time.Now().UnixMilli()}}, nil
	})
	return err
}

func applyAssetArchive(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p assetArchivePayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("asset archive payload: %w", err)
	}
	arch := 0
	if p.Archived {
		arch = 1
	}
	q := `UPDATE assets SET archived = ?, updated_ms = ? WHERE kind = ? AND name = ?`
	args := []any{arch, p.UpdatedMS, string(p.Kind), p.Name}
	if p.Version != "" || !p.Kind.Versioned() {
		q += ` AND version = ?`
		args = append(args, p.Version)
	}
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}

const assetColumns = `kind, name, version, description, tags, spec, files, secret, archived, created_ms, updated_ms`

func scanAsset(sc interface{ Scan(...any) error }) (*tandem.Asset, error) {
	var a tandem.Asset
	var kind, tags, spec, files string
	var secret *string
	var archived int
	if err := sc.Scan(&kind, &a.Name, &a.Version, &a.Description, &tags, &spec, &files, &secret, &archived, &a.CreatedMS, &a.UpdatedMS); err != nil {
		return nil, err
	}
	a.Kind = tandem.AssetKind(kind)
	a.Archived = archived != 0
	if err := json.Unmarshal([]byte(tags), &a.Tags); err != nil {
		return nil, fmt.Errorf("asset %s tags: %w", a.Name, err)
	}
	if len(a.Tags) == 0 {
		a.Tags = nil
	}
	if err := json.Unmarshal([]byte(files), &a.Files); err != nil {
		return nil, fmt.Errorf("asset %s files: %w", a.Name, err)
	}
	if len(a.Files) == 0 {
		a.Files = nil
	}
	a.Spec = tandem.NewSpec(a.Kind)
	if a.Spec == nil {
		return nil, fmt.Errorf("asset %s: unknown kind %q", a.Name, kind)
	}
	if err := json.Unmarshal([]byte(spec), a.Spec); err != nil {
		return nil, fmt.Errorf("asset %s spec: %w", a.Name, err)
	}
	if ds, ok := a.Spec.(*tandem.Datastore); ok {
		ds.Credentials = nil
		ds.HasCredentials = secret != nil && *secret != ""
	}
	return &a, nil
}

// getAsset reads one version; version "latest" (or "" for a versioned kind)
// is the newest version that is not archived.
func getAsset(ctx context.Context, q Querier, kind tandem.AssetKind, name, version string) (*tandem.Asset, error) {
	var row interface{ Scan(...any) error }
	if kind.Versioned() && (version == "" || version == "latest") {
		row = q.QueryRowContext(ctx, `SELECT `+assetColumns+` FROM assets WHERE kind = ? AND name = ? AND archived = 0 ORDER BY seq DESC LIMIT 1`, string(kind), name)
	} else {
		if !kind.Versioned() {
			version = ""
		}
		row = q.QueryRowContext(ctx, `SELECT `+assetColumns+` FROM assets WHERE kind = ? AND name = ? AND version = ?`, string(kind), name, version)
	}
	a, err := scanAsset(row)
	if IsNoRows(err) {
		if version == "" || version == "latest" {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "%s %q not found", kind, name)
		}
		return nil, tandem.Errorf(tandem.ENOTFOUND, "%s %q version %s not found", kind, name, version)
	}
	return a, err
}

func assetVersions(ctx context.Context, q Querier, kind tandem.AssetKind, name string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT version FROM assets WHERE kind = ? AND name = ?`, string(kind), name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func assetSecret(ctx context.Context, q Querier, kind tandem.AssetKind, name string) (string, error) {
	var s *string
	err := q.QueryRowContext(ctx, `SELECT secret FROM assets WHERE kind = ? AND name = ? AND version = ''`, string(kind), name).Scan(&s)
	if IsNoRows(err) || s == nil {
		return "", nil
	}
	return *s, err
}

// GetAsset returns one version ("latest" or "" = newest not archived).
// Datastore credentials are never returned. Errors: ENOTFOUND.
func (s *Store) GetAsset(ctx context.Context, kind tandem.AssetKind, name, version string) (*tandem.Asset, error) {
	return getAsset(ctx, s.Reader(), kind, name, version)
}

// AssetSecret returns a datastore's encrypted credentials ("" when none),
// for the server-side code that resolves data paths. Never for responses.
func (s *Store) AssetSecret(ctx context.Context, kind tandem.AssetKind, name string) (string, error) {
	return assetSecret(ctx, s.Reader(), kind, name)
}

// ListAssets lists assets of kind: with name, every version of it (newest
// first); without, the latest version of each name (by name). Archived
// versions are left out unless includeArchived.
func (s *Store) ListAssets(ctx context.Context, kind tandem.AssetKind, name string, includeArchived bool) ([]*tandem.Asset, error) {
	q := `SELECT ` + assetColumns + `, seq FROM assets WHERE kind = ?`
	args := []any{string(kind)}
	if name != "" {
		q += ` AND name = ?`
		args = append(args, name)
	}
	if !includeArchived {
		q += ` AND archived = 0`
	}
	q += ` ORDER BY name, seq DESC`
	rows, err := s.Reader().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list assets: %w", err)
	}
	defer rows.Close()
	var out []*tandem.Asset
	for rows.Next() {
		var seq int64
		var a *tandem.Asset
		a, err := scanAsset(scanFunc(func(dest ...any) error { return rows.Scan(append(dest, &seq)...) }))
		if err != nil {
			return nil, err
		}
		if name == "" && len(out) > 0 && out[len(out)-1].Name == a.Name {
			continue // only the latest version of each name
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// keepSecretFor refuses to carry a datastore's stored credentials over to
// a definition that points at other storage (another endpoint, bucket,
// account...): the secret would be sent to a place its owner never gave it
// for, perhaps a hostile one. EINVALID: give the credentials again.
func keepSecretFor(a, old *tandem.Asset, secret string) error {
	nd, ok1 := a.Spec.(*tandem.Datastore)
	od, ok2 := old.Spec.(*tandem.Datastore)
	if secret == "" || !ok1 || !ok2 || nd.SameTarget(od) {
		return nil
	}
	return tandem.Errorf(tandem.EINVALID, "datastore %s has stored credentials and now points at other storage (type, endpoint, bucket, region, account or container changed): give its credentials again, or delete the datastore and create it without them", a.Name)
}
