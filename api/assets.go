package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/tandemml/tandem"
)

// MaxCreateBytes bounds a create request, files included (base64).
const MaxCreateBytes = 256 << 20

// CreateRequest is the body of POST /api/tandem/v1/<kind>s: the asset (spec
// included; a datastore's credentials travel only here) and the files its
// local paths name, as base64 with an optional expected SHA-256.
type CreateRequest struct {
	Asset *tandem.Asset `json:"asset"`
	Files []UploadFile  `json:"files,omitempty"`
}

// UploadFile is one file of a create request.
type UploadFile struct {
	Path    string `json:"path"`
	Content string `json:"content"` // base64
	SHA256  string `json:"sha256,omitempty"`
}

// ListResponse is the body of list operations.
type ListResponse struct {
	Assets []*tandem.Asset `json:"assets"`
}

// ResolveResponse is the body of a datastore path resolution.
type ResolveResponse struct {
	URL string `json:"url"`
}

func (s *Server) addRoutes() {
	for _, k := range tandem.AssetKinds {
		k := k
		base := "/" + k.Plural()
		s.route("GET", base, "List "+string(k)+" assets (latest version of each name; ?name= lists its versions; ?include_archived=true)", k, handle(s, 200, s.list(k)))
		s.route("POST", base, "Create a "+string(k)+" (a new immutable version; files uploaded with it)", k, handle(s, 201, s.create(k)))
		s.route("GET", base+"/{name}", "Show the latest "+string(k)+" version", k, handle(s, 200, s.show(k, false)))
		s.route("POST", base+"/{name}/archive", "Archive every version of a "+string(k), k, handle(s, 200, s.archive(k, false, true)))
		s.route("POST", base+"/{name}/restore", "Restore every version of a "+string(k), k, handle(s, 200, s.archive(k, false, false)))
		if !k.Versioned() {
			s.route("GET", base+"/{name}/resolve", "Resolve a tandem://datastores/NAME/paths/... path (?path=) to its storage URL", k, handle(s, 200, s.resolve))
			continue
		}
		v := base + "/{name}/versions/{version}"
		s.route("GET", base+"/{name}/versions", "List the versions of a "+string(k), k, handle(s, 200, s.versions(k)))
		s.route("GET", v, "Show one "+string(k)+" version (\"latest\" is the newest not archived)", k, handle(s, 200, s.show(k, true)))
		s.route("PATCH", v, "Change the description or tags of a "+string(k)+" version", k, handleJSON(s, 200, s.update(k)))
		s.route("POST", v+"/archive", "Archive one "+string(k)+" version", k, handle(s, 200, s.archive(k, true, true)))
		s.route("POST", v+"/restore", "Restore one "+string(k)+" version", k, handle(s, 200, s.archive(k, true, false)))
		s.route("GET", v+"/files/{path...}", "Download one file of a "+string(k)+" version", k, s.file(k))
	}
	s.route("GET", "/openapi.json", "This document", "", handle(s, 200, s.openapi))
	s.addVaultRoutes()    // vault.go: /secrets, datastore credential checks
	s.addJobRoutes()      // jobs.go: /jobs, /compute
	s.addSettingsRoutes() // settings.go: /settings/jobs, /settings/quotas
	s.addDrillRoutes()    // drills.go: /drills
}

// An operation is a function from the request (and for PATCH its decoded
// body) to the response value; handle and handleJSON (handler.go) do the
// HTTP around it.

func (s *Server) list(k tandem.AssetKind) func(*http.Request) (ListResponse, error) {
	return func(r *http.Request) (ListResponse, error) {
		archived, err := includeArchived(r)
		if err != nil {
			return ListResponse{}, err
		}
		name := r.URL.Query().Get("name")
		if err := tandem.CheckText("name", name); err != nil {
			return ListResponse{}, err // a NUL is a PostgreSQL error, not a miss
		}
		var as []*tandem.Asset
		if k == tandem.AssetModel {
			as, err = s.modelList(r.Context(), name, archived)
		} else {
			as, err = s.store.ListAssets(r.Context(), k, name, archived)
		}
		if as == nil {
			as = []*tandem.Asset{}
		}
		return ListResponse{Assets: as}, err
	}
}

func (s *Server) versions(k tandem.AssetKind) func(*http.Request) (ListResponse, error) {
	return func(r *http.Request) (ListResponse, error) {
		name := r.PathValue("name")
		archived, err := includeArchived(r)
		if err != nil {
			return ListResponse{}, err
		}
		if k == tandem.AssetModel {
			as, err := s.modelList(r.Context(), name, archived)
			if err == nil && len(as) == 0 {
				_, err = s.store.GetRegisteredModel(r.Context(), name)
			}
			return ListResponse{Assets: as}, err
		}
		as, err := s.store.ListAssets(r.Context(), k, name, archived)
		if err == nil && len(as) == 0 {
			var all []*tandem.Asset
			if all, err = s.store.ListAssets(r.Context(), k, name, true); err == nil && len(all) == 0 {
				err = tandem.Errorf(tandem.ENOTFOUND, "%s %q not found", k, name)
			}
			as = []*tandem.Asset{}
		}
		return ListResponse{Assets: as}, err
	}
}

// includeArchived reads the include_archived query parameter: true, false
// or absent.
func includeArchived(r *http.Request) (bool, error) {
	vs, ok := r.URL.Query()["include_archived"]
	if !ok {
		return false, nil
	}
	switch vs[0] {
	case "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, tandem.Errorf(tandem.EINVALID, "include_archived must be true or false, got %q", vs[0])
}

func (s *Server) show(k tandem.AssetKind, versioned bool) func(*http.Request) (*tandem.Asset, error) {
	return func(r *http.Request) (*tandem.Asset, error) {
		version := "latest"
		if versioned {
			version = r.PathValue("version")
		}
		return s.getAsset(r.Context(), k, r.PathValue("name"), version)
	}
}

func (s *Server) create(k tandem.AssetKind) func(*http.Request) (*tandem.Asset, error) {
	return func(r *http.Request) (*tandem.Asset, error) { return s.doCreate(r, k) }
}

// resolveImage records the digest an environment's image tag names now,
// when the workspace has registries to copy it to: every region then
// copies exactly that image, whatever the tag names later.
func (s *Server) resolveImage(ctx context.Context, a *tandem.Asset) error {
	e, ok := a.Spec.(*tandem.Environment)
	if !ok || s.resolveRef == nil || e.Image == "" || e.ImageDigest != "" {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	d, err := s.resolveRef(rctx, e.Image)
	if err != nil {
		return tandem.Errorf(tandem.ErrorCode(err), "environment %s: cannot resolve image %s to a digest (the workspace copies images to every region's registry; pin one with @sha256:... to skip this): %s",
			a.Name, e.Image, tandem.ErrorMessage(err))
	}
	e.ImageDigest = d
	return nil
}

// putFunc writes every uploaded file under prefix (bytes checked against
// the declared SHA-256) and returns their refs by file path.
type putFunc func(ctx context.Context, prefix string) (map[string]tandem.BlobRef, error)

func (s *Server) doCreate(r *http.Request, k tandem.AssetKind) (*tandem.Asset, error) {
	ctx := r.Context()
	s.maybeSweep(ctx)
	var req *CreateRequest
	var put putFunc
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		req, put, err = s.readMultipartCreate(r)
	} else {
		req, put, err = s.readJSONCreate(r)
	}
	if err != nil {
		return nil, err
	}
	a := req.Asset
	if a == nil {
		return nil, tandem.Errorf(tandem.EINVALID, "asset is required")
	}
	if a.Kind != k {
		return nil, tandem.Errorf(tandem.EINVALID, "asset kind %q sent to the %s endpoint", a.Kind, k.Plural())
	}
	a.Files, a.Archived = nil, false
	seen := map[string]bool{}
	for _, f := range req.Files {
		if err := tandem.ValidateRelPath(f.Path); err != nil {
			return nil, err
		}
		if seen[f.Path] {
			return nil, tandem.Errorf(tandem.EINVALID, "file %q is sent twice", f.Path)
		}
		seen[f.Path] = true
		a.Files = append(a.Files, tandem.AssetFile{Path: f.Path, SHA256: f.SHA256})
	}
	sort.Slice(a.Files, func(i, j int) bool { return a.Files[i].Path < a.Files[j].Path })
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if err := checkFilesMatchSpec(a); err != nil {
		return nil, err
	}
	if err := s.resolveImage(ctx, a); err != nil {
		return nil, err
	}
	if err := s.checkReferences(r, a); err != nil {
		return nil, err
	}
	secret := ""
	if ds, ok := a.Spec.(*tandem.Datastore); ok {
		if secret, err = s.sealCredentials(ctx, ds.Credentials); err != nil {
			return nil, err
		}
		ds.Credentials, ds.HasCredentials = nil, false
	}
	// Choose the version and refuse an existing one before any bytes are
	// written: a version's files never change once it exists. The lock
	// keeps a concurrent create of the same name in this server from
	// writing under the same version meanwhile. (Several servers of one
	// region behind a load balancer could still race; only the primary
	// writes, and it is meant to be one process.)
	defer s.lockName(k, a.Name)()
	if k.Versioned() && k != tandem.AssetModel {
		if a.Version == "" {
			all, err := s.store.ListAssets(ctx, k, a.Name, true)
			if err != nil {
				return nil, err
			}
			vs := make([]string, len(all))
			for i, x := range all {
				vs[i] = x.Version
			}
			a.Version = tandem.NextVersion(vs)
		} else if _, err := s.store.GetAsset(ctx, k, a.Name, a.Version); err == nil {
			return nil, tandem.Errorf(tandem.EEXISTS, "%s %s version %s already exists; versions cannot be changed, create a new version", k, a.Name, a.Version)
		} else if tandem.ErrorCode(err) != tandem.ENOTFOUND {
			return nil, err
		}
	}
	if k == tandem.AssetModel {
		return s.modelCreate(ctx, a, put)
	}
	blobs, err := putAssetFiles(ctx, a, put)
	if err != nil {
		s.dropFiles(ctx, a)
		return nil, err
	}
	out, err := s.store.CreateAsset(ctx, a, secret, blobs)
	if err != nil && tandem.ErrorCode(err) != tandem.EINTERNAL {
		// Refused: nothing committed. (An internal error may hide a
		// commit; its files are left to SweepAssetUploads.)
		s.dropFiles(ctx, a)
	}
	if err == nil && k == tandem.AssetEnvironment && s.envCreated != nil {
		s.envCreated()
	}
	if err != nil || k != tandem.AssetDatastore {
		return out, err
	}
	// Re-read: whether credentials are stored (new or kept) is the store's.
	return s.store.GetAsset(ctx, k, out.Name, "")
}

// putAssetFiles writes a's files under its storage prefix and fills their
// sizes and digests; it returns the refs in a.Files order.
func putAssetFiles(ctx context.Context, a *tandem.Asset, put putFunc) ([]tandem.BlobRef, error) {
	refs, err := put(ctx, a.StoragePrefix())
	if err != nil {
		return nil, err
	}
	var blobs []tandem.BlobRef
	for i, f := range a.Files {
		ref, ok := refs[f.Path]
		if !ok {
			return nil, tandem.Errorf(tandem.EINVALID, "file %q was declared but not sent", f.Path)
		}
		a.Files[i].Size, a.Files[i].SHA256 = ref.Size, ref.SHA256
		blobs = append(blobs, ref)
	}
	return blobs, nil
}

// readJSONCreate reads a JSON create request whose files travel inline
// (base64), bounded by MaxCreateBytes.
func (s *Server) readJSONCreate(r *http.Request) (*CreateRequest, putFunc, error) {
	body, err := readBody(r, MaxCreateBytes)
	if tandem.ErrorCode(err) == tandem.ELIMIT {
		return nil, nil, tandem.Errorf(tandem.ELIMIT, "request is larger than %d bytes: send the files as multipart/form-data", MaxCreateBytes)
	} else if err != nil {
		return nil, nil, err
	}
	req, err := decodeCreate(body)
	if err != nil {
		return nil, nil, err
	}
	contents := map[string][]byte{}
	for _, f := range req.Files {
		b, err := base64.StdEncoding.DecodeString(f.Content)
		if err != nil {
			return nil, nil, tandem.Errorf(tandem.EINVALID, "file %q: content is not base64", f.Path)
		}
		contents[f.Path] = b
	}
	put := func(ctx context.Context, prefix string) (map[string]tandem.BlobRef, error) {
		refs := map[string]tandem.BlobRef{}
		for _, f := range req.Files {
			ref, err := s.blobs.Put(ctx, prefix+f.Path, bytes.NewReader(contents[f.Path]), f.SHA256)
			if err != nil {
				return nil, err
			}
			refs[f.Path] = ref
		}
		return refs, nil
	}
	return req, put, nil
}

// createBody is a CreateRequest as it is read: strictly, the spec by the
// asset's kind once the kind is known.
type createBody struct {
	Asset *assetBody   `json:"asset"`
	Files []UploadFile `json:"files"`
}

// assetFields has tandem.Asset's fields without its UnmarshalJSON.
type assetFields tandem.Asset

type assetBody struct {
	assetFields
	Spec json.RawMessage `json:"spec"`
}

func decodeCreate(body []byte) (*CreateRequest, error) {
	var b createBody
	if err := decodeStrict(body, &b, ""); err != nil {
		return nil, err
	}
	req := &CreateRequest{Files: b.Files}
	if b.Asset == nil {
		return req, nil
	}
	a := tandem.Asset(b.Asset.assetFields)
	if a.Spec = tandem.NewSpec(a.Kind); a.Spec == nil {
		return nil, tandem.Errorf(tandem.EINVALID, "unknown asset kind %q", a.Kind)
	}
	if len(b.Asset.Spec) > 0 && string(b.Asset.Spec) != "null" {
		if err := decodeStrict(b.Asset.Spec, a.Spec, "asset.spec"); err != nil {
			return nil, err
		}
	}
	req.Asset = &a
	return req, nil
}

// maxAssetPartBytes bounds the "asset" part of a multipart create.
const maxAssetPartBytes = 16 << 20

// PathHeader names the part header that carries a file's path in a
// multipart create (the part's filename would lose its folders).
const PathHeader = "Tandem-Path"

// readMultipartCreate reads a streaming create: a first part "asset" with
// the JSON request (files listed with path and sha256, no content), then
// one part "file" per file, its path in the Tandem-Path header. Files are
// streamed to storage as they arrive; none is held in memory.
func (s *Server) readMultipartCreate(r *http.Request) (*CreateRequest, putFunc, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, nil, tandem.Errorf(tandem.EINVALID, "multipart request: %v", err)
	}
	part, err := mr.NextPart()
	if err != nil || part.FormName() != "asset" {
		return nil, nil, tandem.Errorf(tandem.EINVALID, "multipart create: the first part must be \"asset\"")
	}
	body, err := io.ReadAll(io.LimitReader(part, maxAssetPartBytes+1))
	if err != nil || len(body) > maxAssetPartBytes {
		return nil, nil, tandem.Errorf(tandem.EINVALID, "multipart create: unreadable or oversized asset part")
	}
	req, err := decodeCreate(body)
	if err != nil {
		return nil, nil, err
	}
	declared := map[string]string{}
	for _, f := range req.Files {
		if f.Content != "" {
			return nil, nil, tandem.Errorf(tandem.EINVALID, "multipart create: file %q has inline content; send it as a part", f.Path)
		}
		if len(f.SHA256) != 64 {
			return nil, nil, tandem.Errorf(tandem.EINVALID, "multipart create: file %q needs its sha256", f.Path)
		}
		declared[f.Path] = f.SHA256
	}
	put := func(ctx context.Context, prefix string) (map[string]tandem.BlobRef, error) {
		refs := map[string]tandem.BlobRef{}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			} else if err != nil {
				return nil, tandem.Errorf(tandem.EINVALID, "multipart create: %v", err)
			}
			p := part.Header.Get(PathHeader)
			want, ok := declared[p]
			if part.FormName() != "file" || !ok {
				return nil, tandem.Errorf(tandem.EINVALID, "multipart create: unexpected part %q (path %q)", part.FormName(), p)
			}
			if _, dup := refs[p]; dup {
				return nil, tandem.Errorf(tandem.EINVALID, "file %q is sent twice", p)
			}
			ref, err := s.blobs.Put(ctx, prefix+p, part, want)
			if err != nil {
				return nil, err
			}
			refs[p] = ref
		}
		if len(refs) != len(declared) {
			return nil, tandem.Errorf(tandem.EINVALID, "multipart create: %d files declared, %d sent", len(declared), len(refs))
		}
		return refs, nil
	}
	return req, put, nil
}

// checkFilesMatchSpec: every local path of the spec has files, and every
// file belongs to a local path (so a download recreates the same asset).
func checkFilesMatchSpec(a *tandem.Asset) error {
	locals := a.Spec.LocalPaths()
	for _, p := range locals {
		c, _ := tandem.CleanLocalPath(p)
		found := false
		for _, f := range a.Files {
			found = found || f.Path == c || strings.HasPrefix(f.Path, c+"/")
		}
		if !found {
			return tandem.Errorf(tandem.EINVALID, "local path %q has no uploaded files", p)
		}
	}
	for _, f := range a.Files {
		ok := false
		for _, p := range locals {
			c, _ := tandem.CleanLocalPath(p)
			ok = ok || f.Path == c || strings.HasPrefix(f.Path, c+"/")
		}
		if !ok {
			return tandem.Errorf(tandem.EINVALID, "file %q is not under any local path of the %s", f.Path, a.Kind)
		}
	}
	return nil
}

// updateRequest is the body of PATCH on a version.
type updateRequest struct {
	Description *string           `json:"description"`
	Tags        map[string]string `json:"tags"`
}

func (s *Server) update(k tandem.AssetKind) func(*http.Request, *updateRequest) (*tandem.Asset, error) {
	return func(r *http.Request, req *updateRequest) (*tandem.Asset, error) {
		name, version := r.PathValue("name"), r.PathValue("version")
		if k == tandem.AssetModel {
			return s.modelUpdate(r.Context(), name, version, req.Description, req.Tags)
		}
		return s.store.UpdateAsset(r.Context(), k, name, version, req.Description, req.Tags)
	}
}

func (s *Server) archive(k tandem.AssetKind, versioned, archived bool) func(*http.Request) (struct{}, error) {
	return func(r *http.Request) (struct{}, error) {
		version := ""
		if versioned {
			version = r.PathValue("version")
			if version == "latest" {
				return struct{}{}, tandem.Errorf(tandem.EINVALID, "name the version to archive or restore, not latest")
			}
		}
		if k == tandem.AssetModel {
			return struct{}{}, s.modelArchive(r.Context(), r.PathValue("name"), version, archived)
		}
		return struct{}{}, s.store.ArchiveAsset(r.Context(), k, r.PathValue("name"), version, archived)
	}
}

func (s *Server) file(k tandem.AssetKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var a *tandem.Asset
		var keys map[string]string
		var err error
		if k == tandem.AssetModel {
			var v *modelView
			if v, err = s.modelGet(ctx, r.PathValue("name"), r.PathValue("version")); err == nil {
				a, keys = v.asset, v.keys
			}
		} else {
			a, err = s.store.GetAsset(ctx, k, r.PathValue("name"), r.PathValue("version"))
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		p := r.PathValue("path")
		var f *tandem.AssetFile
		for i := range a.Files {
			if a.Files[i].Path == p {
				f = &a.Files[i]
			}
		}
		if f == nil {
			s.writeError(w, r, tandem.Errorf(tandem.ENOTFOUND, "%s %s version %s has no file %q", k, a.Name, a.Version, p))
			return
		}
		key := a.StoragePrefix() + f.Path
		if keys != nil {
			key = keys[f.Path]
		}
		rd, err := s.blobs.Open(ctx, key)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		defer rd.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("X-Tandem-SHA256", f.SHA256)
		io.Copy(w, rd)
	}
}

func (s *Server) resolve(r *http.Request) (*ResolveResponse, error) {
	name := r.PathValue("name")
	p := r.URL.Query().Get("path")
	rel := p
	if strings.HasPrefix(p, "tandem:") {
		n, rr, err := tandem.ParseDatastorePath(p)
		if err != nil {
			return nil, err
		}
		if n != name {
			return nil, tandem.Errorf(tandem.EINVALID, "path %q names datastore %q, not %q", p, n, name)
		}
		rel = rr
	} else if rel != "" {
		if err := tandem.ValidateRelPath(strings.TrimSuffix(rel, "/")); err != nil {
			return nil, err
		}
	}
	a, err := s.store.GetAsset(r.Context(), tandem.AssetDatastore, name, "")
	if err != nil {
		return nil, err
	}
	return &ResolveResponse{URL: a.Spec.(*tandem.Datastore).Resolve(rel)}, nil
}

// checkReferences checks that the registered assets a definition names
// exist: the datastore of a tandem:// path, a component's environment, a
// pipeline step's component. A missing one is EINVALID (the request is
// wrong, not the URL).
func (s *Server) checkReferences(r *http.Request, a *tandem.Asset) error {
	ctx := r.Context()
	need := func(k tandem.AssetKind, ref, what string) error {
		var name, version string
		if k == tandem.AssetDatastore {
			n, _, err := tandem.ParseDatastorePath(ref)
			if err != nil {
				return err
			}
			name = n
		} else {
			ar, err := tandem.ParseAssetRef(ref)
			if err != nil {
				return err
			}
			name, version = ar.Name, ar.Version
		}
		if _, err := s.store.GetAsset(ctx, k, name, version); tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return tandem.Errorf(tandem.EINVALID, "%s refers to %s; create it first", what, tandem.ErrorMessage(err))
		} else if err != nil {
			return err
		}
		return nil
	}
	dataPath := func(p, what string) error {
		if strings.HasPrefix(p, "tandem:") {
			return need(tandem.AssetDatastore, p, what)
		}
		return nil
	}
	switch sp := a.Spec.(type) {
	case *tandem.Data:
		return dataPath(sp.Path, "data path")
	case *tandem.Model:
		return dataPath(sp.Path, "model path")
	case *tandem.Component:
		return need(tandem.AssetEnvironment, sp.Environment, "component environment")
	case *tandem.Pipeline:
		for _, n := range tandem.SortedKeys(sp.Jobs) {
			if c := sp.Jobs[n].Component; !tandem.IsLocalPath(c) {
				if err := need(tandem.AssetComponent, c, "jobs."+n+".component"); err != nil {
					return err
				}
			}
		}
		for _, n := range tandem.SortedKeys(sp.Inputs) {
			if err := dataPath(sp.Inputs[n].Path, "inputs."+n+".path"); err != nil {
				return err
			}
		}
	}
	return nil
}

// getAsset reads one version of any kind (models from the registry).
func (s *Server) getAsset(ctx context.Context, k tandem.AssetKind, name, version string) (*tandem.Asset, error) {
	if k == tandem.AssetModel {
		v, err := s.modelGet(ctx, name, version)
		if err != nil {
			return nil, err
		}
		return v.asset, nil
	}
	return s.store.GetAsset(ctx, k, name, version)
}
