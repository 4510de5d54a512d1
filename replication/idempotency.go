package replication

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/keylock"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/workspace"
)

// HeaderIdempotencyKey names a write. A primary that applied a write with
// a key answers another write with the same key with the first one's
// result, without applying it again (see sqlstore/idempotency.go: the key
// is committed with the write and replicated with its journal entry, so a
// new primary after a failover knows it). The gateway adds one to every
// write; a secondary forwarding a write passes its key on.
const HeaderIdempotencyKey = "Idempotency-Key"

// HeaderReplayed marks an answer given from an earlier write with the same
// idempotency key.
const HeaderReplayed = "Idempotent-Replayed"

// idempotency is a primary's per-key serialization (a retry arriving while
// the first write with its key still runs waits for it) and its memory of
// the answers it gave, which a retry reaching the same region gets byte
// for byte. Another region rebuilds the answer from the journal entry
// (rebuildAnswer).
type idempotency struct {
	running keylock.Locks
	mu      sync.Mutex
	answers map[string]answer
	order   []string
}

type answer struct {
	status int
	ctype  string
	body   []byte
	at     time.Time
}

// Bounds of the answers kept in memory.
const (
	answersKept   = 4096
	answerTTL     = 10 * time.Minute
	answerMaxBody = 64 << 10
)

func (m *idempotency) remember(key string, a answer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.answers == nil {
		m.answers = map[string]answer{}
	}
	if _, ok := m.answers[key]; !ok {
		m.order = append(m.order, key)
	}
	m.answers[key] = a
	for len(m.order) > 0 {
		old, ok := m.answers[m.order[0]]
		if ok && len(m.answers) <= answersKept && a.at.Sub(old.at) <= answerTTL {
			break
		}
		delete(m.answers, m.order[0])
		m.order = m.order[1:]
	}
}

func (m *idempotency) recall(key string, now time.Time) (answer, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.answers[key]
	if !ok || now.Sub(a.at) > answerTTL {
		return answer{}, false
	}
	return a, true
}

// keyedWrite serves a write that carries an idempotency key on the
// primary: the first with its key runs (and its key commits with it);
// another is answered with the first one's result.
func (f *Frontend) keyedWrite(w http.ResponseWriter, r *http.Request, key string) {
	if err := sqlstore.CheckIdempotencyKey(key); err != nil {
		writeErr(w, err)
		return
	}
	defer f.keys.running.Lock(key)()
	store := f.svc.cfg.Store
	e, ok, err := store.IdempotentWrite(r.Context(), key)
	if err != nil {
		writeErr(w, err)
		return
	}
	if ok {
		f.replay(w, r, key, e)
		return
	}
	rec := &recordWriter{ResponseWriter: w}
	f.stamped(rec, r.WithContext(sqlstore.WithIdempotencyKey(r.Context(), key)))
	if rec.status < 400 && !rec.over {
		f.keys.remember(key, answer{status: rec.status, ctype: rec.Header().Get("Content-Type"), body: rec.body.Bytes(), at: time.Now()})
	}
}

// replay answers a write whose key names entry e, already committed.
func (f *Frontend) replay(w http.ResponseWriter, r *http.Request, key string, e tandem.Entry) {
	if ws := f.svc.cfg.Workspace; ws != nil && ws.Durability.Mode == workspace.Sync {
		// The first answer may have been lost because the write was not
		// acknowledged yet: the replay is an acknowledgement too.
		if err := f.svc.WaitAck(r.Context(), e.Seq); err != nil {
			writeErr(w, err)
			return
		}
	}
	f.svc.log.Info("write answered from its idempotency key", "key", key, "position", e.Position.String(), "op", e.Op, "path", r.URL.Path)
	h := w.Header()
	h.Set(HeaderReplayed, "true")
	h.Set(HeaderPosition, e.Position.String())
	if a, ok := f.keys.recall(key, time.Now()); ok {
		if a.ctype != "" {
			h.Set("Content-Type", a.ctype)
		}
		w.WriteHeader(a.status)
		w.Write(a.body)
		return
	}
	if read := rebuildAnswer(r, e); read != nil {
		f.next.ServeHTTP(w, read)
		return
	}
	body := []byte("{}")
	if e.Op == "experiment.create" {
		body, _ = json.Marshal(map[string]string{"experiment_id": e.Key})
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// rebuildAnswer returns the read whose answer is the answer of the create
// that wrote e, for the creates whose answer is the object they made
// (MLflow's runs/create, registered-models/create, model-versions/create);
// nil for the others (their answer is {} or, for experiments/create, the
// id alone).
func rebuildAnswer(r *http.Request, e tandem.Entry) *http.Request {
	var suffix, get string
	q := url.Values{}
	switch e.Op {
	case "run.create":
		suffix, get = "/runs/create", "/runs/get"
		q.Set("run_id", e.Key)
	case sqlstore.OpRegisteredModelCreate:
		suffix, get = "/registered-models/create", "/registered-models/get"
		q.Set("name", e.Key)
	case sqlstore.OpModelVersionCreate:
		i := strings.LastIndex(e.Key, "/")
		if i < 0 {
			return nil
		}
		suffix, get = "/model-versions/create", "/model-versions/get"
		q.Set("name", e.Key[:i])
		q.Set("version", e.Key[i+1:])
	default:
		return nil
	}
	prefix, ok := strings.CutSuffix(r.URL.Path, suffix)
	if !ok {
		return nil
	}
	read, err := http.NewRequestWithContext(r.Context(), http.MethodGet, prefix+get+"?"+q.Encode(), nil)
	if err != nil {
		return nil
	}
	for k, vs := range r.Header { // credentials: the read is authorized as the write was
		if k != "Content-Length" && k != "Content-Type" {
			read.Header[k] = vs
		}
	}
	read.RemoteAddr, read.Host = r.RemoteAddr, r.Host
	return read
}

// recordWriter keeps a copy of a response (up to answerMaxBody).
type recordWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
	over   bool
}

func (rw *recordWriter) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recordWriter) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	if !rw.over {
		if rw.body.Len()+len(b) > answerMaxBody {
			rw.over = true
			rw.body.Reset()
		} else {
			rw.body.Write(b)
		}
	}
	return rw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (rw *recordWriter) Unwrap() http.ResponseWriter { return rw.ResponseWriter }
