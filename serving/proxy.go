package serving

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/auth"
)

// MaxScoreBody bounds a scoring request's body (Azure ML's limit).
const MaxScoreBody = 100 << 20

// DeploymentHeader names a deployment to score with, bypassing the traffic
// split (Azure ML's header); responses carry it too.
const DeploymentHeader = "azureml-model-deployment"

// ScoringHandler serves POST /endpoints/{name}/score and
// /endpoints/{name}/invocations: mount it at "/endpoints/".
func (s *Service) ScoringHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /endpoints/{name}/score", s.score)
	mux.HandleFunc("POST /endpoints/{name}/invocations", s.score)
	mux.HandleFunc("/endpoints/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, tandem.Errorf(tandem.ENOTFOUND, "no route %s %s: score with POST /endpoints/NAME/score", r.Method, r.URL.Path))
	})
	return mux
}

// writeErr writes an error in tandem API's JSON format ({"error_code": code, "message": ...}).
func writeErr(w http.ResponseWriter, err error) {
	code := tandem.ErrorCode(err)
	status := tandem.HTTPStatus(code)
	var se *statusError
	if errors.As(err, &se) {
		status = se.status
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error_code": code, "message": tandem.ErrorMessage(err)})
}

// statusError is a scoring refusal with its own HTTP status (429, 503,
// 408), which the error codes do not distinguish.
type statusError struct {
	status int
	err    *tandem.Error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

func refuse(status int, code, format string, args ...any) error {
	return &statusError{status: status, err: tandem.Errorf(code, format, args...)}
}

func (s *Service) score(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := r.PathValue("name")
	dep, code, known := "", 0, false
	defer func() {
		if code != 0 {
			s.metrics.requests.WithLabelValues(name, dep, strconv.Itoa(code)).Inc()
			s.metrics.latency.WithLabelValues(name, dep).Observe(time.Since(start).Seconds())
			if known { // names nobody created are not kept (the console's counts)
				s.count(name, dep, code, time.Now())
			}
		}
	}()
	fail := func(err error) {
		writeErr(w, err)
		var se *statusError
		if errors.As(err, &se) {
			code = se.status
		} else {
			code = tandem.HTTPStatus(tandem.ErrorCode(err))
		}
	}
	ep, deps := s.endpoint(name)
	if ep == nil {
		fail(tandem.Errorf(tandem.ENOTFOUND, "online endpoint %s not found", name))
		return
	}
	known = true
	if !ep.Serves(s.cfg.Region) {
		fail(tandem.Errorf(tandem.ENOTFOUND, "online endpoint %s is not served in region %s (its regions: %v)", name, s.cfg.Region, ep.Regions))
		return
	}
	if err := s.authorize(r, ep); err != nil {
		if tandem.ErrorCode(err) == tandem.EUNAUTHORIZED {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tandem"`)
		}
		fail(err)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxScoreBody+1))
	if err != nil {
		fail(tandem.Errorf(tandem.EINVALID, "could not read the request body"))
		return
	}
	if len(body) > MaxScoreBody {
		fail(refuse(http.StatusRequestEntityTooLarge, tandem.ELIMIT, "scoring request body is larger than %d bytes", MaxScoreBody))
		return
	}
	if want := r.Header.Get(DeploymentHeader); want != "" {
		if deps[want] == nil {
			fail(tandem.Errorf(tandem.ENOTFOUND, "online endpoint %s has no deployment %s in region %s", name, want, s.cfg.Region))
			return
		}
		dep = want
	} else {
		healthy := map[string]bool{}
		for n, d := range deps {
			healthy[n] = d.healthy()
		}
		d, ok := tandem.RouteRequest(ep.Traffic, healthy, rand.Float64())
		if !ok {
			if len(ep.Traffic) == 0 || sum(ep.Traffic) == 0 {
				fail(refuse(http.StatusServiceUnavailable, tandem.EUNAVAILABLE, "online endpoint %s routes no traffic: set its traffic", name))
			} else {
				fail(refuse(http.StatusServiceUnavailable, tandem.EUNAVAILABLE, "online endpoint %s has no ready scoring process in region %s", name, s.cfg.Region))
			}
			return
		}
		dep = d
	}
	if m, ok := tandem.MirrorRequest(ep.MirrorTraffic, rand.Float64()); ok && deps[m] != nil && m != dep {
		s.mirror(deps[m], r.Header.Get("Content-Type"), body)
	}
	reqID := requestID(r, rand.Uint64)
	w.Header().Set(RequestIDHeader, reqID)
	dc := deps[dep].currentSpec().DataCollector
	if !tandem.SampleRequest(dc.Rate(), rand.Float64()) {
		code = s.forward(w, r, deps[dep], body, nil)
		return
	}
	var out *capture
	if dc.Collects(tandem.CollectionModelOutputs) {
		out = newCapture()
	}
	code = s.forward(w, r, deps[dep], body, out)
	var in, outb []byte
	if dc.Collects(tandem.CollectionModelInputs) {
		in = body
	}
	if out != nil {
		outb = out.buf
	}
	s.logRequest(NewRequestLogLine(start, s.cfg.Region, name, dep, reqID, code, time.Since(start), in, outb), start)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// authorize checks the request's credentials against the endpoint's
// auth_mode: one of its keys, or a tandem token allowed to score.
func (s *Service) authorize(r *http.Request, ep *tandem.OnlineEndpoint) error {
	if ep.AuthMode == tandem.EndpointAuthToken {
		if s.cfg.Auth == nil {
			return nil
		}
		return s.cfg.Auth.CheckAction(r, tandem.ActionEndpointScore)
	}
	cr, err := auth.ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil || cr.Scheme != "bearer" || cr.Token == "" {
		return tandem.Errorf(tandem.EUNAUTHORIZED, "online endpoint %s needs one of its keys: Authorization: Bearer KEY (tandem online-endpoint get-credentials)", ep.Name)
	}
	keys, err := s.endpointKeys(r.Context(), ep.Name)
	if err != nil {
		return err
	}
	p := subtle.ConstantTimeCompare([]byte(cr.Token), []byte(keys.PrimaryKey))
	q := subtle.ConstantTimeCompare([]byte(cr.Token), []byte(keys.SecondaryKey))
	if p|q != 1 {
		return tandem.Errorf(tandem.EUNAUTHORIZED, "the key is not valid for online endpoint %s", ep.Name)
	}
	return nil
}

// endpointKeys opens an endpoint's sealed keys, once per sealed text.
func (s *Service) endpointKeys(ctx context.Context, name string) (tandem.EndpointKeys, error) {
	sealed, err := s.cfg.Store.EndpointKeysSealed(ctx, name)
	if err != nil {
		return tandem.EndpointKeys{}, err
	}
	s.mu.Lock()
	k, ok := s.keys[name]
	s.mu.Unlock()
	if ok && k.sealed == sealed {
		return k.keys, nil
	}
	keys, err := s.cfg.Vault.OpenEndpointKeys(ctx, name, sealed)
	if err != nil {
		return keys, err
	}
	s.mu.Lock()
	s.keys[name] = openedKeys{sealed: sealed, keys: keys}
	s.mu.Unlock()
	return keys, nil
}

// forward sends the request to a ready process of d, retrying on another
// one when a process cannot be reached (it died: scoring is a pure
// function of the body, so trying again elsewhere is safe). It returns the
// status written; out, when not nil, keeps the start of the scoring
// server's answer (for the request log).
func (s *Service) forward(w http.ResponseWriter, r *http.Request, d *deployment, body []byte, out *capture) int {
	spec := d.currentSpec()
	timeout := time.Duration(spec.RequestSettings.RequestTimeoutMS) * time.Millisecond
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	tried := map[*instance]bool{}
	ctype := r.Header.Get("Content-Type")
	if ctype == "" {
		ctype = "application/json"
	}
	var lastErr error
	for {
		in, full := d.acquire(tried)
		if in == nil {
			var err error
			switch {
			case lastErr != nil && ctx.Err() != nil:
				err = refuse(http.StatusRequestTimeout, tandem.EUNAVAILABLE, "deployment %s did not answer within request_timeout_ms (%d)", d.name, spec.RequestSettings.RequestTimeoutMS)
			case full:
				err = refuse(http.StatusTooManyRequests, tandem.ELIMIT, "deployment %s is at max_concurrent_requests_per_instance (%d) on every instance in this region: retry", d.name, spec.RequestSettings.MaxConcurrentRequestsPerInstance)
			default:
				err = refuse(http.StatusServiceUnavailable, tandem.EUNAVAILABLE, "deployment %s has no ready scoring process in this region", d.name)
			}
			w.Header().Set(DeploymentHeader, d.name)
			writeErr(w, err)
			return err.(*statusError).status
		}
		tried[in] = true
		req, _ := http.NewRequestWithContext(ctx, "POST", in.url("/invocations"), bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		resp, err := s.client.Do(req)
		if err != nil {
			in.inflight.Add(-1)
			lastErr = err
			if ctx.Err() != nil {
				w.Header().Set(DeploymentHeader, d.name)
				e := refuse(http.StatusRequestTimeout, tandem.EUNAVAILABLE, "deployment %s did not answer within request_timeout_ms (%d)", d.name, spec.RequestSettings.RequestTimeoutMS)
				writeErr(w, e)
				return http.StatusRequestTimeout
			}
			continue
		}
		h := w.Header()
		if ct := resp.Header.Get("Content-Type"); ct != "" {
			h.Set("Content-Type", ct)
		}
		h.Set(DeploymentHeader, d.name)
		w.WriteHeader(resp.StatusCode)
		if out != nil {
			io.Copy(w, io.TeeReader(resp.Body, out))
		} else {
			io.Copy(w, resp.Body)
		}
		resp.Body.Close()
		in.inflight.Add(-1)
		in.served.Add(1)
		return resp.StatusCode
	}
}

// mirror copies a request to the mirror deployment in the background; its
// answer is dropped, and so is the copy when too many are in flight.
func (s *Service) mirror(d *deployment, ctype string, body []byte) {
	select {
	case s.mirrors <- struct{}{}:
	default:
		return
	}
	go func() {
		defer func() { <-s.mirrors }()
		in, _ := d.acquire(nil)
		if in == nil {
			return
		}
		defer in.inflight.Add(-1)
		timeout := time.Duration(d.currentSpec().RequestSettings.RequestTimeoutMS) * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", in.url("/invocations"), bytes.NewReader(body))
		if ctype == "" {
			ctype = "application/json"
		}
		req.Header.Set("Content-Type", ctype)
		resp, err := s.client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			in.served.Add(1)
			s.metrics.requests.WithLabelValues(d.endpoint, d.name, "mirror_"+strconv.Itoa(resp.StatusCode)).Inc()
		}
	}()
}
