package auth

import (
	"net/http"

	"github.com/tandemml/tandem"
)

// EndpointRules guards online endpoints (package serving): the management
// API under /api/tandem/v1/online-endpoints with Azure ML's actions, and
// the scoring routes, which authenticate themselves (an endpoint key in
// key mode, a tandem token allowed ActionEndpointScore in aml_token mode,
// through Authenticator.CheckAction), so the middleware lets them through.
func EndpointRules() map[string]Rule {
	const p = "/api/tandem/v1/online-endpoints"
	ep := func(action string) Rule { return act(action, nil) }
	self := Rule{Class: ClassPublic}
	return map[string]Rule{
		"GET " + p:                                             ep(tandem.ActionEndpointsRead),
		"GET " + p + "/{name}":                                 ep(tandem.ActionEndpointsRead),
		"PUT " + p + "/{name}":                                 ep(tandem.ActionEndpointsWrite),
		"DELETE " + p + "/{name}":                              ep(tandem.ActionEndpointsDelete),
		"POST " + p + "/{name}/listKeys":                       ep(tandem.ActionEndpointKeys),
		"POST " + p + "/{name}/regenerateKeys":                 ep(tandem.ActionEndpointRegenKeys),
		"GET " + p + "/{name}/deployments":                     ep(tandem.ActionDeploymentsRead),
		"GET " + p + "/{name}/deployments/{deployment}":        ep(tandem.ActionDeploymentsRead),
		"PUT " + p + "/{name}/deployments/{deployment}":        ep(tandem.ActionDeploymentsWrite),
		"DELETE " + p + "/{name}/deployments/{deployment}":     ep(tandem.ActionDeploymentsDelete),
		"GET " + p + "/{name}/deployments/{deployment}/status": ep(tandem.ActionDeploymentsRead),
		"GET " + p + "/{name}/deployments/{deployment}/logs":   ep(tandem.ActionDeploymentsRead),
		// A secondary's request logs, sent to the primary with the peer key.
		"POST " + p + "/{name}/deployments/{deployment}/request-logs": {Class: ClassPeer},
		"POST /endpoints/{name}/score":                                self,
		"POST /endpoints/{name}/invocations":                          self,
	}
}

// CheckAction authenticates r's credentials (a tandem token, basic auth or
// an OpenID Connect token, as the middleware does) and decides action at
// workspace scope, for handlers that guard themselves: nil when allowed,
// EUNAUTHORIZED or EFORBIDDEN otherwise. The decision is audited like the
// middleware's.
func (a *Authenticator) CheckAction(r *http.Request, action string) error {
	st, err := a.current(r.Context())
	if err != nil {
		a.cfg.Log.Error("identity state", "err", err)
		return tandem.Errorf(tandem.EINTERNAL, "identity state unavailable")
	}
	rule := act(action, nil)
	c, reason, err := a.authenticate(r, st)
	if err != nil {
		a.failures.WithLabelValues(reason).Inc()
		a.audit(r, r.Pattern, rule, c, false, reason)
		return err
	}
	if ok, why, _ := a.authorize(r, st, c, rule); !ok {
		a.failures.WithLabelValues("denied").Inc()
		a.audit(r, r.Pattern, rule, c, false, why)
		return tandem.Errorf(tandem.EFORBIDDEN, "%s may not %s here", c.Name, action)
	}
	return nil
}
