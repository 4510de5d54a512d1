package client

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
)

// Credentials is ~/.tandem/credentials (mode 0600): the tokens the tandem
// CLI and this client send, by workspace name. Secrets live only here (or
// in TANDEM_TOKEN), never in .tandem/config.json.
type Credentials struct {
	Default    string            `json:"default,omitempty"`    // for workspaces not listed
	Workspaces map[string]string `json:"workspaces,omitempty"` // workspace name -> token
}

// CredentialsPath is the credentials file under home ($HOME when "").
func CredentialsPath(home string) string {
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".tandem", "credentials")
}

// LoadCredentials reads the credentials file (a missing file is empty).
func LoadCredentials(path string) (*Credentials, error) {
	c := &Credentials{Workspaces: map[string]string{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	} else if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, err
	}
	if c.Workspaces == nil {
		c.Workspaces = map[string]string{}
	}
	return c, nil
}

// SaveToken records token for workspace in the credentials file at path,
// written 0600 through a temporary file.
func SaveToken(path, workspace, token string) error {
	c, err := LoadCredentials(path)
	if err != nil {
		return err
	}
	c.Workspaces[workspace] = token
	if c.Default == "" {
		c.Default = token
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Token is the token to send for workspace: $TANDEM_TOKEN, else the
// credentials file's entry for the workspace, else its default ("" : none).
func Token(workspace string) string {
	if t := os.Getenv("TANDEM_TOKEN"); t != "" {
		return t
	}
	c, err := LoadCredentials(CredentialsPath(""))
	if err != nil {
		return ""
	}
	if t := c.Workspaces[workspace]; t != "" {
		return t
	}
	return c.Default
}
