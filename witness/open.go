package witness

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/tandemml/tandem"
)

// Options are what Open needs besides the URL.
type Options struct {
	Name       string       // lease name: the workspace's name
	Key        string       // shared key of a built-in witness (see LoadKey)
	HTTPClient *http.Client // for the built-in witness; nil: http.DefaultClient
}

// Open returns the witness a workspace file names:
//
//	http://host:port, https://host:port     the built-in `tandem witness`
//	etcd://[user:password@]host:2379,host:2379[/prefix]   an etcd cluster
//	mem://                                  an in-process witness (tests, one machine)
//
// EINVALID for an unknown scheme or a bad URL; EUNAVAILABLE when etcd
// cannot be reached.
func Open(ctx context.Context, rawURL string, o Options) (tandem.Witness, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, tandem.Errorf(tandem.EINVALID, "witness: %q is not a URL (http://host:port or etcd://host:2379)", redact(rawURL))
	}
	switch scheme {
	case "http", "https":
		return NewClient(rawURL, o.Name, o.Key, o.HTTPClient)
	case "mem":
		return NewMemory(nil), nil
	case "etcd":
		eo := EtcdOptions{Name: o.Name}
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			u, err := url.Parse("etcd://" + rest[:at] + "@x")
			if err != nil {
				return nil, tandem.Errorf(tandem.EINVALID, "witness: bad credentials in etcd URL")
			}
			eo.Username = u.User.Username()
			eo.Password, _ = u.User.Password()
			rest = rest[at+1:]
		}
		hosts, prefix, _ := strings.Cut(rest, "/")
		if prefix != "" {
			eo.Prefix = "/" + strings.TrimSuffix(prefix, "/")
		}
		for _, h := range strings.Split(hosts, ",") {
			if h = strings.TrimSpace(h); h != "" {
				eo.Endpoints = append(eo.Endpoints, h)
			}
		}
		return NewEtcd(ctx, eo)
	}
	return nil, tandem.Errorf(tandem.EINVALID, "witness: unknown URL scheme %q (http, https, etcd, mem)", scheme)
}

// redact hides a password in a URL for messages and logs.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}

// LoadKey returns the shared witness key: the trimmed contents of file when
// file is not empty, else $TANDEM_WITNESS_KEY. EINVALID when neither gives
// a key. The key is never logged or echoed.
func LoadKey(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", tandem.Errorf(tandem.EINVALID, "witness: cannot read key file %s: %v", file, err)
		}
		if k := strings.TrimSpace(string(b)); k != "" {
			return k, nil
		}
		return "", tandem.Errorf(tandem.EINVALID, "witness: key file %s is empty", file)
	}
	if k := strings.TrimSpace(os.Getenv("TANDEM_WITNESS_KEY")); k != "" {
		return k, nil
	}
	return "", tandem.Errorf(tandem.EINVALID, "witness: no key (use --key-file or TANDEM_WITNESS_KEY)")
}
