// Package auth authenticates and authorises every request to a region.
// It sits outermost in the region's handler chain (inside the failover
// wrapper), on primaries and secondaries alike: a secondary checks tokens,
// passwords and roles itself from its replicated identity tables, so
// authenticated reads keep working while the primary is down, and a write
// it forwards carries the client's own Authorization header to the
// primary, which authorises it again as the original principal.
//
// Credentials: "Authorization: Bearer TOKEN" (a tandem token, the
// workspace peer token for status endpoints, or an OpenID Connect JWT when
// a tandem.TokenVerifier is configured) and HTTP basic (a user's name and
// password). Every route has a Rule (routes.go); routes without one need
// an authenticated principal and reach the API's own not-found answer.
// Failures: 401 UNAUTHENTICATED (missing, malformed, unknown, expired,
// revoked credentials), 403 PERMISSION_DENIED, 429 for too many password
// attempts; the request never reaches the handler, so nothing changes.
package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/authz"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"
)

// Config is what an Authenticator needs.
type Config struct {
	Identity tandem.Identity
	Resolver Resolver // run -> experiment for per-experiment scopes; nil: workspace scope only
	// PeerToken is the workspace peer token (replication.Token of the
	// key); it may read status endpoints. "" for a single region.
	PeerToken string
	// Verifier checks OpenID Connect JWTs; nil: only tandem's own tokens.
	Verifier tandem.TokenVerifier
	Region   string
	Log      *slog.Logger
	Metrics  prometheus.Registerer // nil: not exported
	Audit    io.Writer             // JSON lines (audit.go); nil: none
	Now      func() time.Time      // nil: time.Now
	// PasswordRate and PasswordBurst bound wrong passwords per user name
	// and per client address: 0 means 5 in a row, then one per 6 s.
	PasswordRate  rate.Limit
	PasswordBurst int
}

// Authenticator is the middleware. Safe for concurrent use.
type Authenticator struct {
	cfg      Config
	rules    *http.ServeMux
	state    atomic.Pointer[state]
	cacheKey [32]byte
	dummy    []byte // bcrypt hash checked for unknown users, so timing does not tell
	failures *prometheus.CounterVec
	limits   limiters
	auditMu  sync.Mutex
}

// state is the identity snapshot of one generation, with the decisions'
// caches: everything is dropped when the generation moves (any identity
// change, replicated ones included), so a revocation takes effect at the
// next request after it is applied.
type state struct {
	gen    uint64
	policy *authz.Policy
	mu     sync.Mutex
	tokens map[string]*cachedToken // token id ->
	basic  map[[32]byte]*Caller    // keyed hash of user:password ->
}

type cachedToken struct {
	token  *tandem.Token
	caller *Caller
}

// Caller is the authenticated principal of a request.
type Caller struct {
	Name      string   // principal name, "oidc:sub:..." or "peer"
	Method    string   // "token", "basic", "oidc", "peer"
	Assignees []string // what role assignments may name
	Peer      bool
	// Grants restrict a token (a job attempt's): nil for a full one.
	Grants []tandem.TokenGrant
}

type callerKey struct{}

// CallerFrom returns the request's authenticated caller (nil: none, e.g. a
// public route or auth off).
func CallerFrom(ctx context.Context) *Caller { c, _ := ctx.Value(callerKey{}).(*Caller); return c }

// ruleHandler is what the rules mux routes to: it reports its rule to
// the capture writer. Serving the mux (rather than asking Handler) sets
// the request's path values, which scopes read.
type ruleHandler struct{ Rule }

func (h ruleHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c, ok := w.(*capture); ok {
		c.rule, c.pattern, c.found = h.Rule, r.Pattern, true
	}
}

// capture receives the matched rule; whatever else the mux writes (a
// not-found or redirect answer) is dropped.
type capture struct {
	rule    Rule
	pattern string
	found   bool
	h       http.Header
}

func (c *capture) Header() http.Header {
	if c.h == nil {
		c.h = http.Header{}
	}
	return c.h
}
func (c *capture) Write(b []byte) (int, error) { return len(b), nil }
func (c *capture) WriteHeader(int)             {}

// New builds the middleware from the route tables.
func New(cfg Config) *Authenticator {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PasswordRate == 0 {
		cfg.PasswordRate, cfg.PasswordBurst = rate.Every(6*time.Second), 5
	}
	a := &Authenticator{cfg: cfg, rules: http.NewServeMux()}
	rand.Read(a.cacheKey[:])
	a.dummy, _ = bcrypt.GenerateFromPassword(a.cacheKey[:16], PasswordCost)
	a.limits = limiters{m: map[string]*rate.Limiter{}, r: cfg.PasswordRate, b: cfg.PasswordBurst}
	for pattern, rule := range AllRules() {
		a.rules.Handle(pattern, ruleHandler{rule})
	}
	a.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_auth_failures_total",
		Help: "Requests refused by authentication or authorisation, by reason (missing, malformed, invalid, expired, revoked, rate_limited, denied)."},
		[]string{"reason"})
	if cfg.Metrics != nil {
		cfg.Metrics.MustRegister(a.failures)
	}
	return a
}

// AllRules is every route's rule by full pattern: the MLflow API under
// both of its prefixes, the artifact proxy under both roots, tandem's API
// and the region's endpoints.
func AllRules() map[string]Rule {
	out := map[string]Rule{}
	for route, rule := range MLflowRules() {
		method, name, _ := strings.Cut(route, " ")
		for _, p := range []string{"/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"} {
			out[method+" "+p+name] = rule
		}
	}
	for route, rule := range ArtifactRules() {
		method, name, _ := strings.Cut(route, " ")
		for _, p := range []string{"/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow-artifacts/"} {
			out[method+" "+p+name] = rule
		}
	}
	for route, rule := range TandemRules() {
		out[route] = rule
	}
	for route, rule := range TraceRules() { // routes_traces.go
		out[route] = rule
	}
	for route, rule := range EndpointRules() { // routes_endpoints.go
		out[route] = rule
	}
	for route, rule := range GenAIRules() { // routes_genai.go
		out[route] = rule
	}
	for route, rule := range WebhookRules() { // routes_webhooks.go
		out[route] = rule
	}
	for route, rule := range AIGatewayRules() { // routes_aigateway.go
		out[route] = rule
	}
	return out
}

// RuleFor returns the rule guarding r ("" pattern: no route of its own).
// It sets r's path values as the API's own mux will.
func (a *Authenticator) RuleFor(r *http.Request) (Rule, string) {
	var c capture
	a.rules.ServeHTTP(&c, r)
	if c.found {
		return c.rule, c.pattern
	}
	return Rule{Class: ClassAuthenticated}, ""
}

// Wrap guards next.
func (a *Authenticator) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rule, pattern := a.RuleFor(r)
		switch rule.Class {
		case ClassPublic, ClassPeer:
			next.ServeHTTP(w, r)
			return
		}
		st, err := a.current(r.Context())
		if err != nil {
			a.cfg.Log.Error("identity state", "err", err)
			writeErr(w, tandem.Errorf(tandem.EINTERNAL, "identity state unavailable"))
			return
		}
		c, reason, err := a.authenticate(r, st)
		if err != nil {
			a.failures.WithLabelValues(reason).Inc()
			a.audit(r, pattern, rule, c, false, reason)
			if tandem.ErrorCode(err) == tandem.EUNAUTHORIZED && r.Header.Get("X-Requested-With") != "XMLHttpRequest" {
				// A script that says so (the console) handles a 401 with its
				// own sign-in form: no challenge, so the browser does not
				// open its password dialog over the page.
				w.Header().Set("WWW-Authenticate", `Basic realm="tandem", charset="UTF-8"`)
			}
			writeErr(w, err)
			return
		}
		var visible []tandem.Scope
		if rule.Class == ClassAction {
			var ok bool
			var why string
			if ok, why, visible = a.authorize(r, st, c, rule); !ok {
				a.failures.WithLabelValues("denied").Inc()
				a.audit(r, pattern, rule, c, false, why)
				writeErr(w, tandem.Errorf(tandem.EFORBIDDEN, "%s may not %s here", c.Name, rule.Action))
				return
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			a.audit(r, pattern, rule, c, true, "")
		}
		ctx := context.WithValue(r.Context(), callerKey{}, c)
		if visible != nil {
			ctx = tandem.WithVisibleScopes(ctx, visible)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// current returns the identity snapshot of the current generation.
func (a *Authenticator) current(ctx context.Context) (*state, error) {
	gen := a.cfg.Identity.Generation()
	if st := a.state.Load(); st != nil && st.gen == gen {
		return st, nil
	}
	roles, err := a.cfg.Identity.Roles(ctx)
	if err != nil {
		return nil, err
	}
	as, err := a.cfg.Identity.Assignments(ctx)
	if err != nil {
		return nil, err
	}
	st := &state{gen: gen, policy: authz.NewPolicy(append(tandem.BuiltInRoles(), roles...), as),
		tokens: map[string]*cachedToken{}, basic: map[[32]byte]*Caller{}}
	a.state.Store(st)
	return st, nil
}

const maxCache = 10000

// authenticate finds the caller; reason labels a failure in metrics.
func (a *Authenticator) authenticate(r *http.Request, st *state) (*Caller, string, error) {
	cr, err := ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return nil, "malformed", err
	}
	switch cr.Scheme {
	case "":
		return nil, "missing", tandem.Errorf(tandem.EUNAUTHORIZED,
			"authentication required: send a token (Authorization: Bearer, MLFLOW_TRACKING_TOKEN) or a user name and password (HTTP basic, MLFLOW_TRACKING_USERNAME/PASSWORD)")
	case "basic":
		return a.basic(r, st, cr.User, cr.Password)
	}
	if id, secret, ok := SplitToken(cr.Token); ok {
		return a.token(r.Context(), st, id, secret)
	}
	if a.cfg.PeerToken != "" && subtle.ConstantTimeCompare([]byte(cr.Token), []byte(a.cfg.PeerToken)) == 1 {
		return &Caller{Name: "peer", Method: "peer", Peer: true}, "", nil
	}
	if a.cfg.Verifier != nil && strings.Count(cr.Token, ".") == 2 {
		id, err := a.cfg.Verifier.VerifyToken(r.Context(), cr.Token)
		if err != nil {
			return nil, "invalid", tandem.Errorf(tandem.EUNAUTHORIZED, "the token was not accepted")
		}
		c := &Caller{Name: tandem.ExternalAssignee("sub", id.Subject), Method: "oidc"}
		c.Assignees = append(c.Assignees, c.Name)
		for _, g := range id.Groups {
			c.Assignees = append(c.Assignees, tandem.ExternalAssignee("group", g))
		}
		return c, "", nil
	}
	return nil, "invalid", tandem.Errorf(tandem.EUNAUTHORIZED, "the token is not valid")
}

func (a *Authenticator) token(ctx context.Context, st *state, id, secret string) (*Caller, string, error) {
	st.mu.Lock()
	ct := st.tokens[id]
	st.mu.Unlock()
	if ct == nil {
		t, err := a.cfg.Identity.Token(ctx, id)
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return nil, "invalid", tandem.Errorf(tandem.EUNAUTHORIZED, "the token is not valid")
		} else if err != nil {
			return nil, "error", err
		}
		p, err := a.cfg.Identity.PrincipalByID(ctx, t.PrincipalID)
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return nil, "invalid", tandem.Errorf(tandem.EUNAUTHORIZED, "the token is not valid")
		} else if err != nil {
			return nil, "error", err
		}
		ct = &cachedToken{token: t, caller: &Caller{Name: p.Name, Method: "token", Assignees: []string{p.Name}, Grants: t.Grants}}
		st.mu.Lock()
		if len(st.tokens) < maxCache {
			st.tokens[id] = ct
		}
		st.mu.Unlock()
	}
	if !VerifySecret(ct.token, secret) {
		return nil, "invalid", tandem.Errorf(tandem.EUNAUTHORIZED, "the token is not valid")
	}
	if ct.token.RevokedMS != 0 {
		return nil, "revoked", tandem.Errorf(tandem.EUNAUTHORIZED, "the token was revoked")
	}
	if !ct.token.Usable(a.cfg.Now()) {
		return nil, "expired", tandem.Errorf(tandem.EUNAUTHORIZED, "the token has expired")
	}
	return ct.caller, "", nil
}

func (a *Authenticator) basic(r *http.Request, st *state, user, pw string) (*Caller, string, error) {
	h := sha256.New()
	h.Write(a.cacheKey[:])
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(pw))
	var key [32]byte
	h.Sum(key[:0])
	st.mu.Lock()
	c := st.basic[key]
	st.mu.Unlock()
	if c != nil {
		return c, "", nil
	}
	keys := []string{"user:" + user, "addr:" + clientAddr(r)}
	if !a.limits.ok(keys...) {
		return nil, "rate_limited", tandem.Errorf(tandem.ELIMIT, "too many wrong passwords: wait and retry")
	}
	bad := tandem.Errorf(tandem.EUNAUTHORIZED, "wrong user name or password")
	hash, p, err := a.cfg.Identity.PasswordHash(r.Context(), user)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND || (err == nil && len(hash) == 0) {
		CheckPassword(a.dummy, pw) // same cost as a real check
		a.limits.fail(keys...)
		return nil, "invalid", bad
	} else if err != nil {
		return nil, "error", err
	}
	if !CheckPassword(hash, pw) {
		a.limits.fail(keys...)
		return nil, "invalid", bad
	}
	c = &Caller{Name: p.Name, Method: "basic", Assignees: []string{p.Name}}
	st.mu.Lock()
	if len(st.basic) < maxCache {
		st.basic[key] = c
	}
	st.mu.Unlock()
	return c, "", nil
}

// MaxScopeBody bounds the JSON body read to find a request's scope.
const MaxScopeBody = 16 << 20

// authorize decides c's request. The workspace scope is asked first (it
// covers every experiment and model); only a principal without it pays for
// resolving the request's own scopes, each of which must be allowed. A
// filtered list is allowed to a principal holding the action at some
// narrower scopes, which are returned: the handler shows only those.
func (a *Authenticator) authorize(r *http.Request, st *state, c *Caller, rule Rule) (bool, string, []tandem.Scope) {
	if c.Peer { // status, each region's compute (tandem status's capacity check), and managing the workspace (drills, divergence)
		return rule.Action == tandem.ActionStatusRead || rule.Action == tandem.ActionComputeRead || rule.Action == tandem.ActionWorkspaceWrite,
			"the peer key reads status and compute and manages failover only", nil
	}
	d := st.policy.Decide(c.Assignees, rule.Action, tandem.ScopeWorkspace)
	wide := authz.GrantsAtWorkspace(c.Grants, rule.Action)
	if d.Allowed && wide {
		return true, d.Reason, nil
	}
	const narrow = "the token's grants do not cover this request"
	if rule.Filter {
		if !wide {
			return false, narrow, nil
		}
		if scopes := st.policy.Scopes(c.Assignees, rule.Action); len(scopes) > 0 {
			return true, fmt.Sprintf("allowed at %d scopes; the list shows only those", len(scopes)), scopes
		}
		return false, d.Reason, nil
	}
	if rule.Scope == nil {
		if !wide {
			return false, narrow, nil
		}
		return false, d.Reason, nil
	}
	var body map[string]any
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Body != nil && !rule.RawBody &&
		!strings.HasPrefix(r.URL.Path, "/api/2.0/mlflow-artifacts/") && !strings.HasPrefix(r.URL.Path, "/ajax-api/2.0/mlflow-artifacts/") {
		b, _ := io.ReadAll(io.LimitReader(r.Body, MaxScopeBody))
		r.Body = readCloser{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
		json.Unmarshal(b, &body)
	}
	scopes := rule.Scope(r.Context(), r, body, a.cfg.Resolver)
	if len(scopes) == 0 {
		if !wide {
			return false, narrow, nil
		}
		return false, d.Reason, nil
	}
	if !authz.GrantsAllow(c.Grants, rule.Action, scopes) {
		return false, narrow, nil
	}
	if d.Allowed {
		return true, d.Reason, nil
	}
	for _, s := range scopes {
		if d = st.policy.Decide(c.Assignees, rule.Action, s); !d.Allowed {
			return false, d.Reason, nil
		}
	}
	return true, d.Reason, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limiters rate-limits password checks per key (user name, address).
type limiters struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
	r  rate.Limit
	b  int
}

// ok reports whether every key may still try a password.
func (l *limiters) ok(keys ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if lim := l.m[k]; lim != nil && lim.Tokens() < 1 {
			return false
		}
	}
	return true
}

// fail spends one attempt of every key: only wrong passwords count.
func (l *limiters) fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		lim := l.m[k]
		if lim == nil {
			if len(l.m) >= maxCache {
				l.m = map[string]*rate.Limiter{} // forget old keys rather than grow
			}
			lim = rate.NewLimiter(l.r, l.b)
			l.m[k] = lim
		}
		lim.Allow()
	}
}

// writeErr writes err in MLflow's JSON error format.
func writeErr(w http.ResponseWriter, err error) {
	code := tandem.ErrorCode(err)
	if code == tandem.ELIMIT {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(tandem.HTTPStatus(code))
	json.NewEncoder(w).Encode(map[string]string{"error_code": tandem.MLflowName(code), "message": tandem.ErrorMessage(err)})
}
