package api

import (
	"errors"
	"net/http"
	"unicode/utf8"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/auth"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/strictjson"
)

// SetSecretRequest is the body of PUT /secrets/{name}: the value (UTF-8
// text) becomes a new version. It is the only request that carries a
// value; no response ever does.
type SetSecretRequest struct {
	Value       string            `json:"value"`
	ContentType string            `json:"content_type,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
}

// UpdateSecretRequest is the body of PATCH /secrets/{name}/versions/{version}.
type UpdateSecretRequest struct {
	Enabled *bool `json:"enabled"`
}

// SecretsResponse is the body of secret lists: metadata only.
type SecretsResponse struct {
	Secrets []*tandem.Secret `json:"secrets"`
}

// CheckResponse is the body of a datastore check.
type CheckResponse struct {
	Datastore   string `json:"datastore"`
	Credentials bool   `json:"credentials"` // credentials were stored, opened and used
	Reachable   bool   `json:"reachable"`
}

// addVaultRoutes adds the key vault (Azure Key Vault's verbs: set, list,
// show versions, update attributes, delete, recover, purge) and the
// datastore check, which opens a datastore's credentials server-side.
func (s *Server) addVaultRoutes() {
	s.route("GET", "/secrets", "List the key vault's secrets, metadata only (?deleted=true lists soft-deleted ones)", "", s.secretList)
	s.route("PUT", "/secrets/{name}", "Set a secret: the value becomes a new version (values are write-only)", "", s.secretSet)
	s.route("GET", "/secrets/{name}/versions", "Show a secret's metadata: every version with its created time and principal, enabled", "", s.secretVersions)
	s.route("PATCH", "/secrets/{name}/versions/{version}", "Enable or disable one version of a secret", "", s.secretUpdate)
	s.route("DELETE", "/secrets/{name}", "Soft-delete a secret (every version; recover or purge it later)", "", s.secretDelete)
	s.route("POST", "/secrets/{name}/recover", "Recover a soft-deleted secret", "", s.secretRecover)
	s.route("POST", "/secrets/{name}/purge", "Purge a soft-deleted secret for good", "", s.secretPurge)
	s.route("POST", "/datastores/{name}/check", "Check a datastore: open its credentials (secret references resolved) and list its storage", tandem.AssetDatastore, s.datastoreCheck)
}

// principal names who made a request, for created_by: the caller the auth
// middleware found ("anonymous" when the region runs without auth).
func principal(r *http.Request) string {
	if c := auth.CallerFrom(r.Context()); c != nil && c.Name != "" {
		return c.Name
	}
	return "anonymous"
}

// decodeBody decodes a secrets request strictly (see decodeStrict), but its
// errors never quote a value: the body may hold a secret.
func decodeBody(r *http.Request, limit int64, v any) error {
	b, err := readBody(r, limit)
	if err != nil {
		return err
	}
	err = strictjson.Decode(b, v, strictjson.Options{DisallowUnknown: true})
	var e *strictjson.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e) && e.Path != "":
		return tandem.Errorf(tandem.EINVALID, "malformed request body: field '%s' is unknown, repeated or of the wrong type", e.Path)
	default:
		return tandem.Errorf(tandem.EINVALID, "malformed request body (one JSON object expected, at most %d bytes)", limit)
	}
}

func (s *Server) secretList(w http.ResponseWriter, r *http.Request) {
	out, err := s.vault.ListSecrets(r.Context(), r.URL.Query().Get("deleted") == "true")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if out == nil {
		out = []*tandem.Secret{}
	}
	writeJSON(w, 200, SecretsResponse{Secrets: out})
}

func (s *Server) secretSet(w http.ResponseWriter, r *http.Request) {
	var req SetSecretRequest
	if err := decodeBody(r, 4*tandem.MaxSecretBytes+(64<<10), &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !utf8.ValidString(req.Value) {
		s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "secret value must be UTF-8 text"))
		return
	}
	sec, err := s.vault.SetSecret(r.Context(), r.PathValue("name"), []byte(req.Value),
		tandem.Secret{ContentType: req.ContentType, Tags: req.Tags, CreatedBy: principal(r)})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, sec)
}

func (s *Server) secretVersions(w http.ResponseWriter, r *http.Request) {
	out, err := s.vault.SecretVersions(r.Context(), r.PathValue("name"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, SecretsResponse{Secrets: out})
}

func (s *Server) secretUpdate(w http.ResponseWriter, r *http.Request) {
	var req UpdateSecretRequest
	if err := decodeBody(r, 1<<16, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Enabled == nil {
		s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "enabled is required"))
		return
	}
	sec, err := s.vault.UpdateSecret(r.Context(), r.PathValue("name"), r.PathValue("version"), *req.Enabled)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, sec)
}

func (s *Server) secretDelete(w http.ResponseWriter, r *http.Request) {
	if err := s.vault.DeleteSecret(r.Context(), r.PathValue("name")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{})
}

func (s *Server) secretRecover(w http.ResponseWriter, r *http.Request) {
	if err := s.vault.RecoverSecret(r.Context(), r.PathValue("name")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{})
}

func (s *Server) secretPurge(w http.ResponseWriter, r *http.Request) {
	if err := s.vault.PurgeSecret(r.Context(), r.PathValue("name")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{})
}

// datastoreCheck opens the datastore's credentials in this region (secret
// references resolved with this region's key) and lists its storage with
// them. The answer says only whether it worked.
func (s *Server) datastoreCheck(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := r.PathValue("name")
	a, err := s.store.GetAsset(ctx, tandem.AssetDatastore, name, "")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	creds, err := s.OpenCredentials(ctx, name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := blobstore.CheckDatastore(ctx, a.Spec.(*tandem.Datastore), creds); err != nil {
		s.writeError(w, r, tandem.Errorf(tandem.ErrorCode(err), "datastore %s: %s", name, tandem.ErrorMessage(err)))
		return
	}
	writeJSON(w, 200, CheckResponse{Datastore: name, Credentials: len(creds) > 0, Reachable: true})
}
