package webhook

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tandemml/tandem"
)

// Store is where the service finds the webhooks of an event (package
// sqlstore's Store).
type Store interface {
	WebhooksForEvent(ctx context.Context, e tandem.WebhookEvent) ([]tandem.Webhook, error)
}

// Secrets seals and opens webhook secrets (package keyvault's Vault).
type Secrets interface {
	SealWebhookSecret(ctx context.Context, secret string) (string, error)
	OpenWebhookSecret(ctx context.Context, webhookID, sealed string) (string, error)
}

// Config configures a Service. Zero values are MLflow's defaults.
type Config struct {
	Store   Store
	Secrets Secrets // nil: a webhook cannot be given a secret
	Log     *slog.Logger
	// Schemes a webhook URL may have (MLflow's MLFLOW_WEBHOOK_ALLOWED_SCHEMES;
	// default https only).
	Schemes []string
	// AllowPrivate lets webhooks reach loopback, private and link-local
	// addresses (MLflow's MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS): for local
	// development only.
	AllowPrivate bool
	Timeout      time.Duration // per attempt (default 30s)
	Policy       Policy        // zero: DefaultPolicy
	Workers      int           // concurrent deliveries (default 10)
	Queue        int           // deliveries waiting beyond those (default 1000)
	Resolver     *net.Resolver // nil: net.DefaultResolver
	// Metrics, when set, gets tandem_webhook_deliveries_total by outcome
	// (delivered, refused: a 4xx or 5xx in the end, failed: no response,
	// dropped: the queue was full).
	Metrics prometheus.Registerer
}

// Service checks webhook URLs, seals secrets, and delivers events: Notify
// queues, Run sends.
type Service struct {
	cfg    Config
	log    *slog.Logger
	queue  chan delivery
	client *http.Client
	count  *prometheus.CounterVec
}

type delivery struct {
	hook tandem.Webhook
	ev   tandem.WebhookEvent
	data Object
}

// New returns a Service; deliveries are sent once Run runs.
func New(cfg Config) *Service {
	if len(cfg.Schemes) == 0 {
		cfg.Schemes = []string{"https"}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Policy == (Policy{}) {
		cfg.Policy = DefaultPolicy()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 10
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 1000
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	s := &Service{cfg: cfg, log: log, queue: make(chan delivery, cfg.Queue),
		count: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_webhook_deliveries_total",
			Help: "Webhook deliveries of registry events, by outcome (delivered, refused, failed, dropped)."}, []string{"outcome"})}
	if cfg.Metrics != nil {
		cfg.Metrics.MustRegister(s.count)
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout}
	if !cfg.AllowPrivate {
		// The address checked is the one connected to, so a name that
		// resolves otherwise at send time than when it was checked
		// (DNS rebinding) still cannot reach a private address.
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("webhook connection to %s: %w", address, err)
			}
			if !tandem.WebhookAddrAllowed(ap.Addr()) {
				return fmt.Errorf("webhook connection blocked: %s is not a public IP address", ap.Addr())
			}
			return nil
		}
	}
	s.client = &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{
		Proxy:               nil, // a proxy would be the peer checked, not the webhook
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: cfg.Timeout,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}}
	return s
}

// CheckURL refuses a webhook URL MLflow refuses, in its words: blank, a
// scheme not allowed, no host, or (unless private addresses are allowed)
// a host that does not resolve or resolves to an address that is not
// public.
func (s *Service) CheckURL(ctx context.Context, raw string) error {
	host, err := tandem.CheckWebhookURL(raw, s.cfg.Schemes)
	if err != nil || s.cfg.AllowPrivate {
		return err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		ips = []netip.Addr{ip}
	} else {
		ips, err = s.cfg.Resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			msg := err.Error()
			var de *net.DNSError
			if errors.As(err, &de) {
				msg = de.Err
			}
			return tandem.Errorf(tandem.EINVALID, "Cannot resolve Webhook URL hostname %s: %s", tandem.PyRepr(host), msg)
		}
	}
	for _, ip := range ips {
		if !tandem.WebhookAddrAllowed(ip) {
			return tandem.Errorf(tandem.EINVALID, "Webhook URL must not resolve to a non-public IP address. %s resolves to %s.", tandem.PyRepr(host), ip.Unmap())
		}
	}
	return nil
}

// Seal seals a webhook secret for the store ("" stays "").
func (s *Service) Seal(ctx context.Context, secret string) (string, error) {
	if secret == "" {
		return "", nil
	}
	if s.cfg.Secrets == nil {
		return "", tandem.Errorf(tandem.EUNAVAILABLE, "this region has no workspace secrets key, so it cannot store a webhook secret")
	}
	return s.cfg.Secrets.SealWebhookSecret(ctx, secret)
}

// Notify queues the deliveries of an event that a registry write has
// committed: one per active webhook subscribed to it. It does not wait for
// them; when the queue is full a delivery is dropped and logged.
func (s *Service) Notify(ctx context.Context, ev tandem.WebhookEvent, data Object) {
	hooks, err := s.cfg.Store.WebhooksForEvent(context.WithoutCancel(ctx), ev)
	if err != nil {
		s.log.Error("webhooks: list webhooks of event", "event", ev.String(), "err", err)
		return
	}
	for _, h := range Match(hooks, ev) {
		select {
		case s.queue <- delivery{hook: h, ev: ev, data: data}:
		default:
			s.count.WithLabelValues("dropped").Inc()
			s.log.Warn("webhooks: delivery queue full, delivery dropped", "webhook_id", h.ID, "event", ev.String())
		}
	}
}

// Run sends queued deliveries until ctx ends.
func (s *Service) Run(ctx context.Context) {
	done := make(chan struct{})
	for range s.cfg.Workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-ctx.Done():
					return
				case d := <-s.queue:
					s.deliver(ctx, d)
				}
			}
		}()
	}
	for range s.cfg.Workers {
		<-done
	}
}

func (s *Service) deliver(ctx context.Context, d delivery) {
	res := s.send(ctx, d.hook, d.ev, d.data)
	switch {
	case res.Err != nil:
		s.count.WithLabelValues("failed").Inc()
		s.log.Warn("webhooks: delivery failed", "webhook_id", d.hook.ID, "event", d.ev.String(), "attempts", res.Attempts, "err", res.Err)
	case res.Status >= 400:
		s.count.WithLabelValues("refused").Inc()
		s.log.Warn("webhooks: delivery refused", "webhook_id", d.hook.ID, "event", d.ev.String(), "attempts", res.Attempts, "status", res.Status)
	default:
		s.count.WithLabelValues("delivered").Inc()
		s.log.Debug("webhooks: delivered", "webhook_id", d.hook.ID, "event", d.ev.String(), "attempts", res.Attempts, "status", res.Status)
	}
}

// Result is what a delivery got in the end.
type Result struct {
	Status   int    // the last response's status (0: none)
	Body     string // the last response's body, as text
	Err      error  // no response: why
	Attempts int
}

// Test sends a webhook MLflow's example payload of ev (its first event
// when ev is zero) and waits for the outcome, with retries as a delivery
// has them.
func (s *Service) Test(ctx context.Context, hook tandem.Webhook, ev tandem.WebhookEvent) Result {
	if ev == (tandem.WebhookEvent{}) && len(hook.Events) > 0 {
		ev = hook.Events[0]
	}
	data, ok := Example(ev)
	if !ok {
		return Result{Err: fmt.Errorf("unknown event type: %s", ev)}
	}
	return s.send(ctx, hook, ev, data)
}

// maxResponseBody bounds the response body kept for test_webhook.
const maxResponseBody = 64 << 10

func (s *Service) send(ctx context.Context, hook tandem.Webhook, ev tandem.WebhookEvent, data Object) Result {
	if err := s.CheckURL(ctx, hook.URL); err != nil {
		return Result{Err: err}
	}
	secret := ""
	if hook.SealedSecret != "" {
		if s.cfg.Secrets == nil {
			return Result{Err: errors.New("this region has no workspace secrets key to sign with")}
		}
		var err error
		if secret, err = s.cfg.Secrets.OpenWebhookSecret(ctx, hook.ID, hook.SealedSecret); err != nil {
			return Result{Err: err}
		}
	}
	req := Build(hook.URL, secret, ev, data, newDeliveryID(), time.Now())
	var res Result
	for n := 1; ; n++ {
		res.Attempts = n
		o := s.attempt(ctx, req, &res)
		again, wait := s.cfg.Policy.Next(n, o, Jitter())
		if !again {
			return res
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return res
		case <-t.C:
		}
	}
}

// attempt posts req once and records the response (or the error) in res.
func (s *Service) attempt(ctx context.Context, req Request, res *Result) Outcome {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, req.URL, strings.NewReader(string(req.Body)))
	if err != nil {
		res.Status, res.Body, res.Err = 0, "", err
		return Outcome{Err: err, Refused: true}
	}
	hr.Header = req.Header.Clone()
	resp, err := s.client.Do(hr)
	if err != nil {
		res.Status, res.Body, res.Err = 0, "", err
		var oe *net.OpError
		refused := errors.As(err, &oe) && strings.Contains(oe.Error(), "is not a public IP address")
		return Outcome{Err: err, Refused: refused}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	body := string(b)
	if !utf8.ValidString(body) {
		body = strings.ToValidUTF8(body, "\uFFFD")
	}
	res.Status, res.Body, res.Err = resp.StatusCode, body, nil
	return Outcome{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
}

// newDeliveryID is a random (version 4) UUID.
func newDeliveryID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
