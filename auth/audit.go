package auth

import (
	"encoding/json"
	"net/http"
	"time"
)

// AuditRecord is one line of a region's audit log: who did what, when,
// from where, allowed or denied. Writes (any method but GET and HEAD) are
// recorded when allowed; every refusal is recorded. Credentials never are.
type AuditRecord struct {
	Time      time.Time `json:"time"`
	Region    string    `json:"region"`
	Principal string    `json:"principal,omitempty"` // "" when authentication failed
	Via       string    `json:"via,omitempty"`       // token, basic, oidc, peer
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Route     string    `json:"route,omitempty"`
	Action    string    `json:"action,omitempty"`
	From      string    `json:"from"`
	Allowed   bool      `json:"allowed"`
	Reason    string    `json:"reason,omitempty"`
}

func (a *Authenticator) audit(r *http.Request, pattern string, rule Rule, c *Caller, allowed bool, reason string) {
	if a.cfg.Audit == nil {
		return
	}
	rec := AuditRecord{Time: a.cfg.Now().UTC(), Region: a.cfg.Region, Method: r.Method, Path: r.URL.Path,
		Route: pattern, Action: rule.Action, From: clientAddr(r), Allowed: allowed, Reason: reason}
	if c != nil {
		rec.Principal, rec.Via = c.Name, c.Method
	}
	b, _ := json.Marshal(rec)
	a.auditMu.Lock()
	a.cfg.Audit.Write(append(b, '\n'))
	a.auditMu.Unlock()
}
