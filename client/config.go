// Package client is the Go client of a tandem workspace: it finds the
// workspace config file the way Workspace.from_config() does, and talks to
// tandem's API (/api/tandem/v1/) trying the workspace's region endpoints in
// order when one cannot be reached. Regions talks to each region by itself
// (status, verify, failover, divergence, `tandem up`). Every request to a
// region goes through one path (request.go).
package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/tandemml/tandem"
)

// ConfigDir and ConfigFile name the config file inside a project folder.
const (
	ConfigDir  = ".tandem"
	ConfigFile = "config.json"
)

// Config is the workspace config file (.tandem/config.json): the workspace
// name, its region endpoints in preference order, and how to authenticate.
// It never holds a secret in clear.
type Config struct {
	Workspace string   `json:"workspace"`
	Endpoints []string `json:"endpoints"`
	Auth      Auth     `json:"auth"`
	// WorkspaceFile is the workspace file (workspace.yaml) of a workspace
	// that `tandem up` runs, relative to the folder holding .tandem/
	// unless absolute; the failover verbs find it here (FindWorkspace).
	WorkspaceFile string `json:"workspace_file,omitempty"`
	// CAFile names a PEM bundle of CA certificates that https endpoints
	// are verified against, besides the system's (a path, relative to the
	// config file's folder; not a secret). See tls.go.
	CAFile string `json:"ca_file,omitempty"`
	// Path is where the config was read from (not stored).
	Path string `json:"-"`
}

// Auth says how requests authenticate. Type "none" sends nothing;
// "bearer_env" sends the token held in the environment variable TokenEnv.
type Auth struct {
	Type     string `json:"type"`
	TokenEnv string `json:"token_env,omitempty"`
}

// Validate checks the config.
func (c *Config) Validate() error {
	if err := tandem.ValidateName(c.Workspace); err != nil {
		return tandem.Errorf(tandem.EINVALID, "workspace: %s", tandem.ErrorMessage(err))
	}
	if len(c.Endpoints) == 0 {
		return tandem.Errorf(tandem.EINVALID, "at least one endpoint is required")
	}
	for _, e := range c.Endpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return tandem.Errorf(tandem.EINVALID, "endpoint %q must be an http(s) URL without credentials", e)
		}
	}
	switch c.Auth.Type {
	case "", "none":
	case "bearer_env":
		if c.Auth.TokenEnv == "" {
			return tandem.Errorf(tandem.EINVALID, "auth bearer_env needs token_env (the name of the variable that holds the token)")
		}
	default:
		return tandem.Errorf(tandem.EINVALID, "auth type must be none or bearer_env, got %q", c.Auth.Type)
	}
	return nil
}

// Lookup is where discovery looks: an explicit path (--config), the value
// of TANDEM_CONFIG, the current folder and the home folder.
type Lookup struct {
	Explicit string
	Env      string
	Cwd      string
	Home     string
}

// DefaultLookup fills Lookup from the process: TANDEM_CONFIG, os.Getwd,
// os.UserHomeDir.
func DefaultLookup(explicit string) Lookup {
	l := Lookup{Explicit: explicit, Env: os.Getenv("TANDEM_CONFIG")}
	l.Cwd, _ = os.Getwd()
	l.Home, _ = os.UserHomeDir()
	return l
}

// FindConfig returns the path of the config file: Explicit, then Env, then
// .tandem/config.json in Cwd and each of its parents, then
// ~/.tandem/config.json. An explicit path or TANDEM_CONFIG that does not
// exist is an error (not skipped). Nothing found is ENOTFOUND.
func FindConfig(l Lookup) (string, error) {
	if p, err := named("config file", l.Explicit, l.Env); p != "" || err != nil {
		return p, err
	}
	if l.Cwd != "" {
		dir, _ := filepath.Abs(l.Cwd)
		for {
			p := filepath.Join(dir, ConfigDir, ConfigFile)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	if l.Home != "" {
		p := filepath.Join(l.Home, ConfigDir, ConfigFile)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	return "", tandem.Errorf(tandem.ENOTFOUND, "no tandem config found (--config, TANDEM_CONFIG, .tandem/config.json here or in a parent folder, ~/.tandem/config.json): run `tandem attach --workspace NAME --endpoint URL`")
}

// named returns the first of paths that is set (a flag, a variable),
// which must exist; "" when none is set.
func named(what string, paths ...string) (string, error) {
	for _, p := range paths {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			return "", tandem.Errorf(tandem.ENOTFOUND, "%s %s: %v", what, p, errors.Unwrap(err))
		}
		return p, nil
	}
	return "", nil
}

// LoadConfig reads and validates a config file; unknown fields are errors.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "config file %s: %v", path, errors.Unwrap(err))
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "config file %s: %v", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "config file %s: %s", path, tandem.ErrorMessage(err))
	}
	c.Path = path
	return &c, nil
}

// WriteConfig writes c as dir/.tandem/config.json (atomically) and returns
// the path.
func WriteConfig(dir string, c *Config) (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	if c.Auth.Type == "" {
		c.Auth.Type = "none"
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	d := filepath.Join(dir, ConfigDir)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	p := filepath.Join(d, ConfigFile)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	return p, nil
}
