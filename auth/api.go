package auth

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tandemml/tandem"
)

// API serves the identity routes (IdentityRoutes) on mux: principals,
// their tokens, roles, role assignments, the audit log and whoami. The
// middleware has authorised every request before it gets here. auditPath
// is the region's audit log ("" : the audit query answers empty).
func (a *Authenticator) API(mux *http.ServeMux, auditPath string) {
	id := a.cfg.Identity
	h := map[string]func(w http.ResponseWriter, r *http.Request) (any, error){
		"GET /principals": func(w http.ResponseWriter, r *http.Request) (any, error) {
			ps, err := id.Principals(r.Context())
			return map[string]any{"principals": ps}, err
		},
		"POST /principals": func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req struct {
				Name     string               `json:"name"`
				Kind     tandem.PrincipalKind `json:"kind"`
				Password string               `json:"password"`
			}
			if err := decodeJSON(r, &req); err != nil {
				return nil, err
			}
			var hash []byte
			if req.Kind == tandem.PrincipalUser && req.Password != "" {
				var err error
				if hash, err = HashPassword(req.Password); err != nil {
					return nil, err
				}
			} else if req.Password != "" {
				return nil, tandem.Errorf(tandem.EINVALID, "only users have passwords; service principals use tokens")
			}
			p, err := id.CreatePrincipal(r.Context(), &tandem.Principal{Name: req.Name, Kind: req.Kind}, hash)
			if err != nil {
				return nil, err
			}
			out := map[string]any{"principal": p}
			if req.Kind == tandem.PrincipalService {
				tok, t, err := NewToken(p.ID, "created with the principal", 0, a.cfg.Now())
				if err == nil {
					err = id.CreateToken(r.Context(), t)
				}
				if err != nil {
					return nil, err
				}
				out["token"], out["token_id"] = tok, t.ID
			}
			return out, nil
		},
		"GET /principals/{name}": func(w http.ResponseWriter, r *http.Request) (any, error) {
			return id.Principal(r.Context(), r.PathValue("name"))
		},
		"DELETE /principals/{name}": func(w http.ResponseWriter, r *http.Request) (any, error) {
			return map[string]any{}, id.DeletePrincipal(r.Context(), r.PathValue("name"))
		},
		"GET /principals/{name}/tokens": func(w http.ResponseWriter, r *http.Request) (any, error) {
			p, err := id.Principal(r.Context(), r.PathValue("name"))
			if err != nil {
				return nil, err
			}
			ts, err := id.Tokens(r.Context(), p.ID)
			return map[string]any{"tokens": ts}, err
		},
		"POST /principals/{name}/tokens": func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req struct {
				Description string `json:"description"`
				ExpiresIn   string `json:"expires_in"` // Go duration, e.g. "720h"; "" : never
			}
			if err := decodeJSON(r, &req); err != nil {
				return nil, err
			}
			var ttl time.Duration
			if req.ExpiresIn != "" {
				d, err := time.ParseDuration(req.ExpiresIn)
				if err != nil || d <= 0 {
					return nil, tandem.Errorf(tandem.EINVALID, "expires_in %q: a positive duration such as 720h", req.ExpiresIn)
				}
				ttl = d
			}
			p, err := id.Principal(r.Context(), r.PathValue("name"))
			if err != nil {
				return nil, err
			}
			tok, t, err := NewToken(p.ID, req.Description, ttl, a.cfg.Now())
			if err == nil {
				err = id.CreateToken(r.Context(), t)
			}
			if err != nil {
				return nil, err
			}
			return map[string]any{"token": tok, "token_info": t}, nil
		},
		"DELETE /tokens/{id}": func(w http.ResponseWriter, r *http.Request) (any, error) {
			return map[string]any{}, id.RevokeToken(r.Context(), r.PathValue("id"))
		},
		"GET /roles": func(w http.ResponseWriter, r *http.Request) (any, error) {
			rs, err := id.Roles(r.Context())
			return map[string]any{"roles": append(tandem.BuiltInRoles(), rs...)}, err
		},
		"GET /roles/{name}": func(w http.ResponseWriter, r *http.Request) (any, error) {
			st, err := a.current(r.Context())
			if err != nil {
				return nil, err
			}
			if rd, ok := st.policy.Role(r.PathValue("name")); ok {
				return rd, nil
			}
			return nil, tandem.Errorf(tandem.ENOTFOUND, "role %q not found", r.PathValue("name"))
		},
		"PUT /roles/{name}": func(w http.ResponseWriter, r *http.Request) (any, error) {
			var rd tandem.RoleDefinition
			if err := decodeJSON(r, &rd); err != nil {
				return nil, err
			}
			if rd.Name != r.PathValue("name") {
				return nil, tandem.Errorf(tandem.EINVALID, "the body's name %q differs from the path's %q", rd.Name, r.PathValue("name"))
			}
			return &rd, id.PutRole(r.Context(), &rd)
		},
		"DELETE /roles/{name}": func(w http.ResponseWriter, r *http.Request) (any, error) {
			return map[string]any{}, id.DeleteRole(r.Context(), r.PathValue("name"))
		},
		"GET /role-assignments": func(w http.ResponseWriter, r *http.Request) (any, error) {
			as, err := id.Assignments(r.Context())
			return map[string]any{"role_assignments": as}, err
		},
		"POST /role-assignments": func(w http.ResponseWriter, r *http.Request) (any, error) {
			var ra tandem.RoleAssignment
			if err := decodeJSON(r, &ra); err != nil {
				return nil, err
			}
			return id.CreateAssignment(r.Context(), &ra)
		},
		"DELETE /role-assignments/{id}": func(w http.ResponseWriter, r *http.Request) (any, error) {
			return map[string]any{}, id.DeleteAssignment(r.Context(), r.PathValue("id"))
		},
		"GET /whoami": func(w http.ResponseWriter, r *http.Request) (any, error) {
			c := CallerFrom(r.Context())
			if c == nil {
				return nil, tandem.Errorf(tandem.EUNAUTHORIZED, "not authenticated")
			}
			return map[string]any{"name": c.Name, "via": c.Method, "assignees": c.Assignees}, nil
		},
		"PUT /principals/{name}/password": func(w http.ResponseWriter, r *http.Request) (any, error) {
			return map[string]any{}, setPassword(r, id, r.PathValue("name"))
		},
		"PUT /whoami/password": func(w http.ResponseWriter, r *http.Request) (any, error) {
			c := CallerFrom(r.Context())
			if c == nil {
				return nil, tandem.Errorf(tandem.EUNAUTHORIZED, "not authenticated")
			}
			return map[string]any{}, setPassword(r, id, c.Name)
		},
		"GET /audit": func(w http.ResponseWriter, r *http.Request) (any, error) {
			recs, err := queryAudit(auditPath, r)
			return map[string]any{"records": recs}, err
		},
	}
	for route, fn := range h {
		method, path, _ := strings.Cut(route, " ")
		mux.HandleFunc(method+" /api/tandem/v1"+path, func(w http.ResponseWriter, r *http.Request) {
			v, err := fn(w, r)
			if err != nil {
				if tandem.ErrorCode(err) == tandem.EINTERNAL {
					a.cfg.Log.Error("identity api", "method", r.Method, "path", r.URL.Path, "err", err)
				}
				writeErr(w, err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			json.NewEncoder(w).Encode(v)
		})
	}
}

// setPassword sets (or, with an empty password, removes) a user's
// password from the request body {"password": "..."}.
func setPassword(r *http.Request, id tandem.Identity, name string) error {
	var req struct {
		Password string `json:"password"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	var hash []byte
	if req.Password != "" {
		var err error
		if hash, err = HashPassword(req.Password); err != nil {
			return err
		}
	}
	return id.SetPassword(r.Context(), name, hash)
}

func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return tandem.Errorf(tandem.EINVALID, "malformed JSON body")
	}
	if dec.More() {
		return tandem.Errorf(tandem.EINVALID, "malformed JSON body: trailing data")
	}
	return nil
}

// queryAudit reads the audit log, newest last, filtered by ?principal=,
// ?allowed=true|false, ?since=RFC3339, at most ?limit= (default 1000).
func queryAudit(path string, r *http.Request) ([]AuditRecord, error) {
	out := []AuditRecord{}
	if path == "" {
		return out, nil
	}
	q := r.URL.Query()
	limit := 1000
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > 100000 {
			return nil, tandem.Errorf(tandem.EINVALID, "limit: 1 to 100000")
		}
		limit = n
	}
	var since time.Time
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "since: an RFC 3339 time")
		}
		since = t
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return out, nil
	} else if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rec AuditRecord
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		if (q.Get("principal") != "" && rec.Principal != q.Get("principal")) ||
			(q.Get("allowed") != "" && strconv.FormatBool(rec.Allowed) != q.Get("allowed")) || rec.Time.Before(since) {
			continue
		}
		out = append(out, rec)
		if len(out) > limit {
			out = out[1:]
		}
	}
	return out, sc.Err()
}

// OffAPI answers the identity routes of a region with authentication off
// (tandem server --no-auth): NOT_IMPLEMENTED, which plan and apply read
// as "this region has no roles to compare", rather than an unknown route.
func OffAPI(mux *http.ServeMux) {
	for route := range IdentityRoutes() {
		mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) {
			writeErr(w, tandem.Errorf(tandem.ENOTIMPLEMENTED, "authentication is off in this region (tandem server --no-auth): no principals, roles or tokens"))
		})
	}
}
