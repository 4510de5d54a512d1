package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"sync"
	"time"
)

// newKey returns a fresh idempotency key: 128 random bits in hex.
func newKey() string {
	var b [16]byte
	rand.Read(b[:])
	return "gw-" + hex.EncodeToString(b[:])
}

// fingerprint names a write by what a client sending it again sends
// again: method, path and query, body, credentials and the client's
// address (not its port: a retry comes on a new connection). It is a hash,
// so no credential is kept.
func fingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	for _, s := range []string{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), host} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// ambiguous remembers the keys of writes answered 503 after they may have
// been applied, by fingerprint, for ttl and at most max of them (the
// oldest go first).
type ambiguous struct {
	ttl  time.Duration
	max  int
	mu   sync.Mutex
	m    map[string]keyEntry
	fifo []string // fingerprints in insertion order (may hold dropped ones)
}

type keyEntry struct {
	key string
	at  time.Time
}

func newAmbiguous(ttl time.Duration, max int) *ambiguous {
	return &ambiguous{ttl: ttl, max: max, m: map[string]keyEntry{}}
}

// get returns the key remembered for fp, or "".
func (a *ambiguous) get(fp string, now time.Time) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.m[fp]
	if !ok || now.Sub(e.at) > a.ttl {
		return ""
	}
	return e.key
}

// put remembers key for fp and sweeps what is too old or too many.
func (a *ambiguous) put(fp, key string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.m[fp]; !ok {
		a.fifo = append(a.fifo, fp)
	}
	a.m[fp] = keyEntry{key: key, at: now}
	if len(a.fifo) > 2*a.max {
		// Mostly dropped fingerprints: keep the first place of each live one.
		seen := map[string]bool{}
		var keep []string
		for _, f := range a.fifo {
			if _, ok := a.m[f]; ok && !seen[f] {
				seen[f] = true
				keep = append(keep, f)
			}
		}
		a.fifo = keep
	}
	for len(a.fifo) > 0 {
		old := a.fifo[0]
		e, ok := a.m[old]
		switch {
		case !ok: // dropped already
		case len(a.m) > a.max || now.Sub(e.at) > a.ttl:
			delete(a.m, old)
		default:
			return
		}
		a.fifo = a.fifo[1:]
	}
}

// drop forgets fp: its write got a clear answer.
func (a *ambiguous) drop(fp string) {
	a.mu.Lock()
	delete(a.m, fp)
	a.mu.Unlock()
}
