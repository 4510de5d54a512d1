package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tandemml/tandem"
)

// bodyFunc makes a request body and its content type anew for each
// attempt; nil sends no body.
type bodyFunc func() (io.ReadCloser, string)

// sender is the one request path from tandem's clients to a region: every
// request to a region, from the workspace client, the status and failover
// verbs and `tandem up`, is built, authorized, bounded in time and turned
// into a response or a *tandem.Error by send, and retried across regions
// only by sendAny.
type sender struct {
	http *http.Client
	// token returns the bearer token to send, read at request time; nil
	// or "" sends none.
	token func() string
	// timeout bounds one request (until its body is closed); 0: the
	// caller's context alone.
	timeout time.Duration
}

// send sends one request to u and returns a 2xx response (the caller
// closes its body). An answer outside 2xx becomes a *tandem.Error with the
// region's code and message; no answer at all is an *unreachableError.
func (s *sender) send(ctx context.Context, method, u string, body bodyFunc) (*http.Response, error) {
	cancel := context.CancelFunc(func() {})
	rctx := ctx
	if s.timeout > 0 {
		rctx, cancel = context.WithTimeout(ctx, s.timeout)
	}
	var rd io.ReadCloser
	var ctype string
	if body != nil {
		rd, ctype = body()
	}
	req, err := http.NewRequestWithContext(rctx, method, u, rd)
	if err != nil {
		cancel()
		if rd != nil {
			rd.Close()
		}
		return nil, tandem.Errorf(tandem.EINVALID, "%s %s: %v", method, u, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if s.token != nil {
		if tok := s.token(); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	hc := s.http
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &unreachableError{url: u, err: err}
	}
	if resp.StatusCode/100 != 2 {
		defer cancel()
		defer resp.Body.Close()
		return nil, answerError(resp)
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// sendAny is the retry rule: it sends the request to each URL in turn and
// moves to the next only while a region gives no answer (refused, name not
// found, timed out before a response); any answer, an error too, ends it.
// It returns the response and the index of the URL that answered.
func (s *sender) sendAny(ctx context.Context, method string, urls []string, body bodyFunc) (*http.Response, int, error) {
	var lastErr error = tandem.Errorf(tandem.EUNAVAILABLE, "no region to ask")
	for i, u := range urls {
		resp, err := s.send(ctx, method, u, body)
		var ue *unreachableError
		if errors.As(err, &ue) {
			lastErr = err
			continue
		}
		return resp, i, err
	}
	return nil, -1, lastErr
}

// getJSON sends a GET to u and decodes the JSON answer into v.
func (s *sender) getJSON(ctx context.Context, u string, v any) error {
	return s.callJSON(ctx, "GET", u, nil, v)
}

// callJSON sends body (JSON; nil: none) to u and decodes the JSON answer
// into v (nil: discarded).
func (s *sender) callJSON(ctx context.Context, method, u string, body, v any) error {
	resp, err := s.send(ctx, method, u, jsonBody(body))
	if err != nil {
		return err
	}
	return decodeAnswer(resp, method, u, v)
}

// decodeAnswer decodes resp's JSON body into v (nil: discarded) and
// closes it.
func decodeAnswer(resp *http.Response, method, u string, v any) error {
	defer resp.Body.Close()
	if v == nil {
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return tandem.Errorf(tandem.EUNAVAILABLE, "%s %s: decode the answer: %v", method, u, err)
	}
	return nil
}

// jsonBody is a JSON request body; nil for a nil value.
func jsonBody(v any) bodyFunc {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte("null")
	}
	return bytesBody(b, "application/json")
}

// bytesBody sends b with content type ctype.
func bytesBody(b []byte, ctype string) bodyFunc {
	return func() (io.ReadCloser, string) { return io.NopCloser(bytes.NewReader(b)), ctype }
}

// unreachableError is a request that got no answer from its region.
type unreachableError struct {
	url string
	err error
}

func (e *unreachableError) Error() string { return e.err.Error() }
func (e *unreachableError) Unwrap() error {
	return &tandem.Error{Code: tandem.EUNAVAILABLE, Message: reachMessage(e.url, e.err)}
}

// reachMessage says why u gave no answer, without Go's wrapping.
func reachMessage(u string, err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Sprintf("%s did not answer in time", hostOf(u))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Sprintf("%s: %v", hostOf(u), err)
}

func hostOf(u string) string {
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		return p.Scheme + "://" + p.Host
	}
	return u
}

// answerError turns an answer outside 2xx into a *tandem.Error: the
// region's own code when it sent one of tandem's codes, else the code
// that matches the HTTP status (MLflow-style error names included), and
// its message.
func answerError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb struct {
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	}
	if json.Unmarshal(b, &eb) != nil || eb.Message == "" {
		eb.Message = strings.TrimSpace(string(b))
		if len(eb.Message) > 300 {
			eb.Message = eb.Message[:300] + "..."
		}
		if eb.Message == "" {
			eb.Message = resp.Status
		}
	}
	code := eb.ErrorCode
	if !tandemCode(code) {
		code = statusCode(resp.StatusCode)
	}
	return &tandem.Error{Code: code, Message: eb.Message}
}

// tandemCode reports whether c is one of tandem's error codes.
func tandemCode(c string) bool {
	switch c {
	case tandem.EINVALID, tandem.ENOTFOUND, tandem.EEXISTS, tandem.ECONFLICT, tandem.EINVALIDSTATE, tandem.ELIMIT,
		tandem.EUNAVAILABLE, tandem.ENOTIMPLEMENTED, tandem.EUNAUTHORIZED, tandem.EFORBIDDEN, tandem.EINTERNAL:
		return true
	}
	return false
}

// statusCode is the tandem code for an HTTP status without one.
func statusCode(status int) string {
	switch status {
	case 400:
		return tandem.EINVALID
	case 401:
		return tandem.EUNAUTHORIZED
	case 403:
		return tandem.EFORBIDDEN
	case 404:
		return tandem.ENOTFOUND
	case 409:
		return tandem.ECONFLICT
	case 429:
		return tandem.ELIMIT
	case 501:
		return tandem.ENOTIMPLEMENTED
	}
	return tandem.EUNAVAILABLE
}

// cancelBody ends a request's time bound once its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
