package sqlstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/transfer/bundle"
)

// Asset import: import.asset.<kind> writes one asset version (or datastore
// definition) taken from a bundle, keeping its version, description, tags,
// archived state and times. Bundles never carry datastore credentials, so
// an imported datastore has none; a datastore that already exists is never
// replaced (identical: already present; different: conflict), so its
// stored credentials are never wiped.

const opImportAsset = "import.asset"

func (s *Store) registerTransferAssets() {
	for _, k := range tandem.AssetKinds {
		if k == tandem.AssetModel {
			continue // models travel as registered models
		}
		s.register(opImportAsset+"."+string(k), k.JournalKind(), applyImportAsset)
	}
}

// TransferAssetIDs lists the manifest ids (bundle.AssetID) of every asset
// version of the workspace except models, by kind, name and age, archived
// ones included.
func TransferAssetIDs(ctx context.Context, q Querier) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT kind, name, version FROM assets ORDER BY kind, name, seq`)
	if err != nil {
		return nil, fmt.Errorf("export assets: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k, n, v string
		if err := rows.Scan(&k, &n, &v); err != nil {
			return nil, err
		}
		if tandem.AssetKind(k) == tandem.AssetModel {
			continue
		}
		out = append(out, bundle.AssetID(k, n, v))
	}
	return out, rows.Err()
}

// TransferAsset reads one asset version as a bundle record, without any
// credentials. version "" or "latest" is the newest version not archived.
// ok is false when it does not exist.
func TransferAsset(ctx context.Context, q Querier, kind tandem.AssetKind, name, version string) (bundle.Asset, bool, error) {
	a, err := getAsset(ctx, q, kind, name, version)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return bundle.Asset{}, false, nil
	} else if err != nil {
		return bundle.Asset{}, false, fmt.Errorf("export %s %s: %w", kind, name, err)
	}
	rec, err := assetRecord(a)
	return rec, err == nil, err
}

// assetRecord converts a stored asset to its bundle record, dropping
// datastore credentials (and the fact that some are stored).
func assetRecord(a *tandem.Asset) (bundle.Asset, error) {
	if ds, ok := a.Spec.(*tandem.Datastore); ok {
		c := *ds
		c.Credentials, c.HasCredentials = nil, false
		a.Spec = &c
	}
	spec, err := json.Marshal(a.Spec)
	if err != nil {
		return bundle.Asset{}, fmt.Errorf("asset %s spec: %w", a.Name, err)
	}
	rec := bundle.Asset{AssetKind: string(a.Kind), Name: a.Name, Version: a.Version, Description: a.Description,
		Archived: a.Archived, CreatedMS: a.CreatedMS, UpdatedMS: a.UpdatedMS, Spec: spec}
	for _, k := range tandem.SortedKeys(a.Tags) {
		rec.Tags = append(rec.Tags, bundle.KV{Key: k, Value: a.Tags[k]})
	}
	for _, f := range a.Files {
		rec.Files = append(rec.Files, bundle.File{Path: f.Path, Size: f.Size, SHA256: f.SHA256})
	}
	return rec, nil
}

// AssetFromRecord checks a bundle asset record (kind, name, version, a
// valid definition without credentials, safe file paths) and returns it as
// an asset. Errors: EINVALID.
func AssetFromRecord(rec bundle.Asset) (*tandem.Asset, error) {
	kind, err := tandem.ParseAssetKind(rec.AssetKind)
	if err != nil || string(kind) != rec.AssetKind || kind == tandem.AssetModel {
		return nil, tandem.Errorf(tandem.EINVALID, "asset %s: kind %q cannot be imported as an asset", rec.Name, rec.AssetKind)
	}
	if kind.Versioned() == (rec.Version == "") {
		return nil, tandem.Errorf(tandem.EINVALID, "asset %s %s: version %q: versioned kinds need one, datastores have none", kind, rec.Name, rec.Version)
	}
	spec := tandem.NewSpec(kind)
	dec := json.NewDecoder(bytes.NewReader(rec.Spec))
	dec.DisallowUnknownFields()
	if err := dec.Decode(spec); err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "asset %s %s: spec: %v", kind, rec.Name, err)
	}
	if ds, ok := spec.(*tandem.Datastore); ok {
		if len(ds.Credentials) > 0 {
			return nil, tandem.Errorf(tandem.EINVALID, "datastore %s: a bundle must not carry credentials", rec.Name)
		}
		ds.HasCredentials = false
	}
	a := &tandem.Asset{Kind: kind, Name: rec.Name, Version: rec.Version, Description: rec.Description,
		Archived: rec.Archived, CreatedMS: rec.CreatedMS, UpdatedMS: rec.UpdatedMS, Spec: spec}
	for _, kv := range rec.Tags {
		if a.Tags == nil {
			a.Tags = map[string]string{}
		}
		a.Tags[kv.Key] = kv.Value
	}
	for _, f := range rec.Files {
		if err := bundle.CheckPath(f.Path); err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "asset %s %s: file %v", kind, rec.Name, err)
		}
		a.Files = append(a.Files, tandem.AssetFile{Path: f.Path, Size: f.Size, SHA256: f.SHA256})
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return a, nil
}

// PlanAsset compares a bundle asset with this workspace: new, already
// present (same definition, files, description, tags and archived state)
// or conflict (the same kind, name and version with different content;
// versions are immutable and a datastore is never replaced by an import).
func PlanAsset(ctx context.Context, q Querier, a *tandem.Asset) (ImportResult, error) {
	old, err := getAsset(ctx, q, a.Kind, a.Name, a.Version)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return ImportResult{Status: ImportNew}, nil
	} else if err != nil {
		return ImportResult{}, fmt.Errorf("plan %s %s: %w", a.Kind, a.Name, err)
	}
	if diff := assetDiff(old, a); diff != "" {
		what := fmt.Sprintf("%s %s version %s", a.Kind, a.Name, a.Version)
		if !a.Kind.Versioned() {
			what = fmt.Sprintf("%s %s", a.Kind, a.Name)
		}
		return ImportResult{Status: ImportConflict, Reason: what + " exists here with a different " + diff}, nil
	}
	return ImportResult{Status: ImportPresent}, nil
}

// assetDiff names the first thing that differs between the stored asset
// and the imported one ("" when they are the same). Times are not
// compared; credentials are not part of the definition.
func assetDiff(old, a *tandem.Asset) string {
	oa, _ := assetRecord(old)
	na, _ := assetRecord(a)
	switch {
	case !jsonEqual(oa.Spec, na.Spec):
		return "definition"
	case !filesEqual(oa.Files, na.Files):
		return "file list"
	case oa.Description != na.Description:
		return "description"
	case !kvEqual(oa.Tags, na.Tags):
		return "set of tags"
	case oa.Archived != na.Archived:
		return "archived state"
	}
	return ""
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func filesEqual(a, b []bundle.File) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := append([]bundle.File(nil), a...), append([]bundle.File(nil), b...)
	sort.Slice(x, func(i, j int) bool { return x[i].Path < x[j].Path })
	sort.Slice(y, func(i, j int) bool { return y[i].Path < y[j].Path })
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

func kvEqual(a, b []bundle.KV) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// importAssetWire is the import.asset payload; tandem.Asset leaves Spec
// out of its JSON, so the payload carries it beside.
type importAssetWire struct {
	Asset *tandem.Asset   `json:"asset"`
	Spec  json.RawMessage `json:"spec"`
}

// ImportAsset writes one asset version from a bundle (checked by
// AssetFromRecord) whose files are already in artifact storage under its
// storage prefix, in one transaction: all of it or nothing. It re-plans
// inside the write transaction, so an asset created meanwhile is reported
// already present or in conflict and left untouched.
func (s *Store) ImportAsset(ctx context.Context, a *tandem.Asset) (ImportResult, error) {
	var res ImportResult
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		var err error
		if res, err = PlanAsset(ctx, tx, a); err != nil {
			return nil, err
		}
		if res.Status != ImportNew {
			return nil, errImportNoop
		}
		spec, err := json.Marshal(a.Spec)
		if err != nil {
			return nil, err
		}
		var blobs []tandem.BlobRef
		prefix := a.StoragePrefix()
		for _, f := range a.Files {
			blobs = append(blobs, tandem.BlobRef{Path: prefix + f.Path, SHA256: f.SHA256, Size: f.Size})
		}
		return &Change{Op: opImportAsset + "." + string(a.Kind), Key: assetKey(a.Kind, a.Name, a.Version),
			Payload: importAssetWire{Asset: a, Spec: spec}, Blobs: blobs}, nil
	})
	if err == errImportNoop {
		err = nil
	}
	return res, err
}

// applyImportAsset inserts the asset row; an existing row is left alone
// (the primary planned "new", so there is none unless replayed).
func applyImportAsset(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p importAssetWire
	if err := json.Unmarshal(e.Payload, &p); err != nil || p.Asset == nil {
		return fmt.Errorf("import.asset payload: %v", err)
	}
	a := p.Asset
	if len(p.Spec) == 0 || !json.Valid(p.Spec) || strings.Contains(string(p.Spec), `"credentials"`) {
		return fmt.Errorf("import.asset payload: bad or secret-bearing spec for %s %s", a.Kind, a.Name)
	}
	tags, _ := json.Marshal(nonNilTags(a.Tags))
	files, _ := json.Marshal(nonNilFiles(a.Files))
	arch := 0
	if a.Archived {
		arch = 1
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO assets (kind, name, version, seq, description, tags, spec, files, secret, archived, created_ms, updated_ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?) ON CONFLICT (kind, name, version) DO NOTHING`,
		string(a.Kind), a.Name, a.Version, e.Seq, a.Description, string(tags), string(p.Spec), string(files), arch, a.CreatedMS, a.UpdatedMS)
	if err != nil {
		return fmt.Errorf("import asset: %w", err)
	}
	return nil
}
