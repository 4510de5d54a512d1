package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/api"
	"github.com/tandemml/tandem/assetyaml"
)

// Client talks to one workspace. It is safe for concurrent use.
type Client struct {
	cfg Config
	s   sender

	mu      sync.Mutex
	current int // index of the endpoint that answered last
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hc, err := HTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, s: sender{http: hc, token: bearerEnv(cfg.Auth, cfg.Workspace)}}, nil
}

// FromConfig finds the config file (see FindConfig with DefaultLookup) and
// returns a client for it.
func FromConfig(ctx context.Context) (*Client, error) { return FromConfigPath(ctx, "") }

// FromConfigPath is FromConfig with an explicit path (the --config flag);
// an empty path discovers as FromConfig does.
func FromConfigPath(ctx context.Context, explicit string) (*Client, error) {
	p, err := FindConfig(DefaultLookup(explicit))
	if err != nil {
		return nil, err
	}
	cfg, err := LoadConfig(p)
	if err != nil {
		return nil, err
	}
	return New(*cfg)
}

// Config returns the client's config.
func (c *Client) Config() Config { return c.cfg }

// TrackingURI is the value for MLFLOW_TRACKING_URI: the preferred endpoint.
func (c *Client) TrackingURI() string { return strings.TrimSuffix(c.cfg.Endpoints[0], "/") }

// do sends a request to the current endpoint and, when it cannot be
// reached (connection refused, DNS, timeout before a response), to the
// next ones in order. An API error response becomes a *tandem.Error.
func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	return decodeAnswer(resp, method, path, out)
}

// send returns a successful response (the caller closes its body).
func (c *Client) send(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	if body == nil {
		return c.sendBody(ctx, method, path, nil)
	}
	return c.sendBody(ctx, method, path, bytesBody(body, "application/json"))
}

// sendBody is send with a body made anew for each endpoint tried: the
// endpoints in order from the one that answered last (sender.sendAny).
func (c *Client) sendBody(ctx context.Context, method, path string, mkBody func() (io.ReadCloser, string)) (*http.Response, error) {
	return c.sendRoot(ctx, method, api.Prefix+path, mkBody)
}

// sendRoot is sendBody with a path from the server's root.
func (c *Client) sendRoot(ctx context.Context, method, path string, mkBody func() (io.ReadCloser, string)) (*http.Response, error) {
	c.mu.Lock()
	start := c.current
	c.mu.Unlock()
	n := len(c.cfg.Endpoints)
	urls := make([]string, n)
	for i := range urls {
		urls[i] = strings.TrimSuffix(c.cfg.Endpoints[(start+i)%n], "/") + path
	}
	resp, i, err := c.s.sendAny(ctx, method, urls, mkBody)
	if i >= 0 {
		c.mu.Lock()
		c.current = (start + i) % n
		c.mu.Unlock()
	}
	var ue *unreachableError
	if errors.As(err, &ue) {
		name := c.cfg.Workspace
		if name == "" {
			name = c.cfg.Endpoints[0]
		}
		return nil, &tandem.Error{Code: tandem.EUNAVAILABLE, Message: fmt.Sprintf("no endpoint of workspace %s is reachable: %s", name, tandem.ErrorMessage(err))}
	}
	return resp, err
}

// bearerEnv returns the bearer token to send, read at request time: the
// variable a bearer_env config names, else TANDEM_TOKEN or the workspace's
// entry in ~/.tandem/credentials (Token).
func bearerEnv(a Auth, workspace string) func() string {
	if a.Type == "bearer_env" {
		return func() string { return os.Getenv(a.TokenEnv) }
	}
	return func() string { return Token(workspace) }
}

func assetPath(k tandem.AssetKind, name, version string) string {
	p := "/" + k.Plural() + "/" + url.PathEscape(name)
	if version != "" && k.Versioned() {
		p += "/versions/" + url.PathEscape(version)
	}
	return p
}

// CreateAsset creates an asset version from a loaded YAML file: files are
// read from dir (the YAML file's folder). It returns the stored version.
func (c *Client) CreateAsset(ctx context.Context, a *tandem.Asset, dir string) (*tandem.Asset, error) {
	files, err := assetyaml.CollectFiles(dir, a.Spec)
	if err != nil {
		return nil, err
	}
	// Digests first (the server checks each file as it streams in), then
	// the bytes, streamed as multipart parts: nothing is held in memory.
	req := api.CreateRequest{Asset: a}
	for _, f := range files {
		sum, err := fileSHA256(f.Abs)
		if err != nil {
			return nil, err
		}
		req.Files = append(req.Files, api.UploadFile{Path: f.Path, SHA256: sum})
	}
	head, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	mk := func() (io.ReadCloser, string) {
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() { pw.CloseWithError(writeCreateParts(mw, head, files)) }()
		return pr, mw.FormDataContentType()
	}
	resp, err := c.sendBody(ctx, "POST", "/"+a.Kind.Plural(), mk)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out tandem.Asset
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("create: decode response: %w", err)
	}
	return &out, nil
}

func writeCreateParts(mw *multipart.Writer, head []byte, files []assetyaml.LocalFile) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="asset"`)
	h.Set("Content-Type", "application/json")
	w, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := w.Write(head); err != nil {
		return err
	}
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"`)
		h.Set("Content-Type", "application/octet-stream")
		h.Set(api.PathHeader, f.Path)
		w, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		fd, err := os.Open(f.Abs)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, fd)
		fd.Close()
		if err != nil {
			return err
		}
	}
	return mw.Close()
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// GetAsset returns one version ("latest" or "" for the newest).
func (c *Client) GetAsset(ctx context.Context, k tandem.AssetKind, name, version string) (*tandem.Asset, error) {
	if version == "" {
		version = "latest"
	}
	var out tandem.Asset
	if err := c.do(ctx, "GET", assetPath(k, name, version), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListAssets lists the latest version of each name, or every version of name.
func (c *Client) ListAssets(ctx context.Context, k tandem.AssetKind, name string, includeArchived bool) ([]*tandem.Asset, error) {
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	if includeArchived {
		q.Set("include_archived", "true")
	}
	p := "/" + k.Plural()
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var out api.ListResponse
	if err := c.do(ctx, "GET", p, nil, &out); err != nil {
		return nil, err
	}
	return out.Assets, nil
}

// ArchiveAsset archives (or restores) one version, or all when version is "".
func (c *Client) ArchiveAsset(ctx context.Context, k tandem.AssetKind, name, version string, archived bool) error {
	verb := "/archive"
	if !archived {
		verb = "/restore"
	}
	return c.do(ctx, "POST", assetPath(k, name, version)+verb, []byte("{}"), nil)
}

// ResolveDatastorePath resolves tandem://datastores/NAME/paths/... to a
// storage URL.
func (c *Client) ResolveDatastorePath(ctx context.Context, p string) (string, error) {
	name, _, err := tandem.ParseDatastorePath(p)
	if err != nil {
		return "", err
	}
	var out api.ResolveResponse
	err = c.do(ctx, "GET", "/datastores/"+url.PathEscape(name)+"/resolve?path="+url.QueryEscape(p), nil, &out)
	return out.URL, err
}

// Download writes a version as a folder: its canonical YAML and its files
// at the paths the YAML names, each checked against its recorded SHA-256.
// From that folder `create -f` makes an identical version in any
// workspace. dir must not exist or be empty. It returns the YAML's path.
func (c *Client) Download(ctx context.Context, k tandem.AssetKind, name, version, dir string) (string, *tandem.Asset, error) {
	a, err := c.GetAsset(ctx, k, name, version)
	if err != nil {
		return "", nil, err
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return "", nil, tandem.Errorf(tandem.EEXISTS, "download folder %s is not empty", dir)
	}
	yml, err := assetyaml.Marshal(a)
	if err != nil {
		return "", nil, err
	}
	yamlName := string(k) + ".yaml"
	for _, f := range a.Files {
		if f.Path == yamlName {
			yamlName = a.Name + "-" + a.Version + "." + string(k) + ".yaml"
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	for _, f := range a.Files {
		if err := tandem.ValidateRelPath(f.Path); err != nil {
			return "", nil, err
		}
		if err := c.downloadFile(ctx, a, f, filepath.Join(dir, filepath.FromSlash(f.Path))); err != nil {
			return "", nil, err
		}
	}
	yp := filepath.Join(dir, yamlName)
	if err := os.WriteFile(yp, yml, 0o644); err != nil {
		return "", nil, err
	}
	return yp, a, nil
}

func (c *Client) downloadFile(ctx context.Context, a *tandem.Asset, f tandem.AssetFile, dst string) error {
	p := assetPath(a.Kind, a.Name, a.Version) + "/files/" + (&url.URL{Path: f.Path}).EscapedPath()
	resp, err := c.send(ctx, "GET", p, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".download-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), resp.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("download %s: %w", f.Path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return tandem.Errorf(tandem.EINVALIDSTATE, "download %s: sha256 %s differs from the recorded %s", f.Path, got, f.SHA256)
	}
	return os.Rename(tmp.Name(), dst)
}
