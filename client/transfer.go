package client

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/transfer"
)

// ForURL returns a client of the one workspace endpoint base, for the
// verbs that take a --url (export, import): the HTTP client (its ca_file)
// and the bearer token of cfg when a config file was found (nil: none),
// and, when neither names a token, MLFLOW_TRACKING_TOKEN, as a workspace
// migrated from MLflow may use.
func ForURL(base string, cfg *Config) (*Client, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	c.Endpoints = []string{strings.TrimRight(base, "/")}
	hc, err := HTTPClient(c)
	if err != nil {
		return nil, err
	}
	tok := bearerEnv(c.Auth, c.Workspace)
	return &Client{cfg: c, s: sender{http: hc, token: func() string {
		if t := tok(); t != "" {
			return t
		}
		return os.Getenv("MLFLOW_TRACKING_TOKEN")
	}}}, nil
}

// Call sends in as JSON (nil: no body) to path, a path from the server's
// root (an MLflow route such as /api/2.0/mlflow/experiments/get-by-name,
// or one of tandem's under /api/tandem/v1), and decodes the answer into
// out (nil: discarded).
func (c *Client) Call(ctx context.Context, method, path string, in, out any) error {
	var body bodyFunc
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytesBody(b, "application/json")
	}
	resp, err := c.sendRoot(ctx, method, path, body)
	if err != nil {
		return err
	}
	return decodeAnswer(resp, method, path, out)
}

// Export asks the workspace for a bundle of sel and copies the archive
// into w as it arrives, calling received (when not nil) with the bytes so
// far. It returns the archive's size.
func (c *Client) Export(ctx context.Context, sel transfer.Selection, w io.Writer, received func(int64)) (int64, error) {
	body, err := json.Marshal(sel)
	if err != nil {
		return 0, err
	}
	resp, err := c.sendRoot(ctx, http.MethodPost, transfer.ExportPath, bytesBody(body, "application/json"))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var n int64
	buf := make([]byte, 1<<20)
	for {
		k, rerr := resp.Body.Read(buf)
		if k > 0 {
			if _, err := w.Write(buf[:k]); err != nil {
				return n, err
			}
			n += int64(k)
			if received != nil {
				received(n)
			}
		}
		if rerr == io.EOF {
			return n, nil
		} else if rerr != nil {
			return n, tandem.Errorf(tandem.EUNAVAILABLE, "export interrupted after %d bytes: %v", n, rerr)
		}
	}
}

// Import sends the bundle archive open returns (a tar stream) to the
// workspace, calling progress (when not nil) as the workspace verifies
// and imports it, and returns its report. dry asks for the plan only. A
// failed import returns its error and, when the workspace sent one, the
// report of what it did before.
func (c *Client) Import(ctx context.Context, open func() io.ReadCloser, dry bool, progress func(transfer.Progress)) (*transfer.Report, error) {
	path := transfer.ImportPath
	if dry {
		path += "?dry_run=true"
	}
	resp, err := c.sendRoot(ctx, http.MethodPost, path, func() (io.ReadCloser, string) { return open(), "application/x-tar" })
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var ev transfer.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, tandem.Errorf(tandem.EUNAVAILABLE, "import: bad answer line: %v", err)
		}
		switch ev.Event {
		case "progress":
			if progress != nil && ev.Progress != nil {
				progress(*ev.Progress)
			}
		case "error":
			return ev.Report, &tandem.Error{Code: ev.ErrorCode, Message: "import: " + ev.Message}
		case "report":
			if ev.Report == nil {
				return nil, tandem.Errorf(tandem.EUNAVAILABLE, "import: a report event without a report")
			}
			return ev.Report, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "import interrupted: %v (run the same import again to finish it)", err)
	}
	return nil, tandem.Errorf(tandem.EUNAVAILABLE, "import interrupted: the workspace closed the connection (run the same import again to finish it)")
}
