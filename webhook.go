package tandem

import (
	"net/netip"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// MLflow 3's model-registry webhooks: a URL that is sent an HTTP POST,
// signed with the webhook's secret, when a registry event it subscribes to
// happens (a model registered, a version created, an alias set, ...).
// Webhooks are workspace objects of kind webhooks; their secret is sealed
// with the workspace key (package keyvault) and never leaves the region
// that sends the request.

// Webhook is one webhook. Times are milliseconds since the epoch.
// SealedSecret is the secret as the key vault sealed it ("" when the
// webhook has none): it is never written into a response, log or bundle.
type Webhook struct {
	ID           string
	Name         string
	Description  string
	URL          string
	Events       []WebhookEvent
	Status       string // WebhookActive or WebhookDisabled
	Created      int64
	Updated      int64
	SealedSecret string
}

// The webhook statuses (MLflow's WebhookStatus).
const (
	WebhookActive   = "ACTIVE"
	WebhookDisabled = "DISABLED"
)

// WebhookEvent is what a webhook subscribes to: an entity and an action,
// in MLflow's lower-case words ("model_version", "created").
type WebhookEvent struct {
	Entity string
	Action string
}

// String is MLflow's "entity.action".
func (e WebhookEvent) String() string { return e.Entity + "." + e.Action }

// The webhook entities and actions MLflow names.
const (
	WebhookRegisteredModel   = "registered_model"
	WebhookModelVersion      = "model_version"
	WebhookModelVersionTag   = "model_version_tag"
	WebhookModelVersionAlias = "model_version_alias"
	WebhookPrompt            = "prompt"
	WebhookPromptVersion     = "prompt_version"
	WebhookPromptTag         = "prompt_tag"
	WebhookPromptVersionTag  = "prompt_version_tag"
	WebhookPromptAlias       = "prompt_alias"
	WebhookBudgetPolicy      = "budget_policy"

	WebhookCreated  = "created"
	WebhookUpdated  = "updated"
	WebhookDeleted  = "deleted"
	WebhookSet      = "set"
	WebhookExceeded = "exceeded"
)

// WebhookEntities lists the entities in MLflow's enum order.
func WebhookEntities() []string {
	return []string{WebhookRegisteredModel, WebhookModelVersion, WebhookModelVersionTag, WebhookModelVersionAlias,
		WebhookPrompt, WebhookPromptVersion, WebhookPromptTag, WebhookPromptVersionTag, WebhookPromptAlias, WebhookBudgetPolicy}
}

// WebhookActions lists the actions in MLflow's enum order.
func WebhookActions() []string {
	return []string{WebhookCreated, WebhookUpdated, WebhookDeleted, WebhookSet, WebhookExceeded}
}

// WebhookEntityActions returns the actions an entity has events for.
func WebhookEntityActions(entity string) []string {
	switch entity {
	case WebhookRegisteredModel, WebhookModelVersion, WebhookPrompt, WebhookPromptVersion:
		return []string{WebhookCreated}
	case WebhookModelVersionTag, WebhookPromptTag, WebhookPromptVersionTag:
		return []string{WebhookSet, WebhookDeleted}
	case WebhookModelVersionAlias, WebhookPromptAlias:
		return []string{WebhookCreated, WebhookDeleted}
	case WebhookBudgetPolicy:
		return []string{WebhookExceeded}
	}
	return nil
}

// ValidateWebhookEvent refuses an entity/action pair MLflow has no event
// for, in MLflow's words.
func ValidateWebhookEvent(e WebhookEvent) error {
	valid := WebhookEntityActions(e.Entity)
	for _, a := range valid {
		if a == e.Action {
			return nil
		}
	}
	sorted := append([]string(nil), valid...)
	sort.Strings(sorted)
	quoted := make([]string, len(sorted))
	for i, a := range sorted {
		quoted[i] = PyRepr(a)
	}
	return Errorf(EINVALID, "Invalid action '%s' for entity '%s'. Valid actions are: [%s]", e.Action, e.Entity, strings.Join(quoted, ", "))
}

// ValidateWebhookEvents refuses an empty list or an invalid event.
func ValidateWebhookEvents(events []WebhookEvent) error {
	if len(events) == 0 {
		return Errorf(EINVALID, "Webhook events must be a non-empty list of WebhookEvent objects: [].")
	}
	for _, e := range events {
		if err := ValidateWebhookEvent(e); err != nil {
			return err
		}
	}
	return nil
}

// webhookNamePattern: 1 to 63 letters, digits, dots, underscores and
// hyphens, starting and ending with a letter or digit (MLflow's rule).
var webhookNamePattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$`)

// ValidateWebhookName refuses a name MLflow refuses, in its words.
func ValidateWebhookName(name string) error {
	if len(name) > 63 || !webhookNamePattern.MatchString(name) {
		return Errorf(EINVALID, "Webhook name %s is invalid. It must start and end with a letter or digit, be less than 63 characters long, and contain only letters, digits, dots (.), underscores (_), and hyphens (-).", PyRepr(name))
	}
	return nil
}

// CheckWebhookURL checks the form of a webhook URL: not blank, a scheme
// of schemes (MLflow allows only https unless configured), a host. It
// returns the host name, which the caller must resolve and check with
// WebhookAddrAllowed unless private addresses are allowed.
func CheckWebhookURL(raw string, schemes []string) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return "", Errorf(EINVALID, "Webhook URL cannot be empty or just whitespace: %s", PyRepr(raw))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", Errorf(EINVALID, "Invalid webhook URL %s: %s", PyRepr(raw), err)
	}
	ok := false
	for _, s := range schemes {
		ok = ok || u.Scheme == s
	}
	if !ok {
		return "", Errorf(EINVALID, "Invalid webhook URL scheme: %s. Allowed schemes are: %s.", PyRepr(u.Scheme), strings.Join(schemes, ", "))
	}
	host := u.Hostname()
	if host == "" {
		return "", Errorf(EINVALID, "Webhook URL must include a hostname: %s", PyRepr(raw))
	}
	return host, nil
}

// WebhookAddrAllowed reports whether a webhook may be sent to ip without
// allowing private addresses: a public unicast address (IPv4 embedded in
// IPv6 transition forms is judged as the IPv4 address it carries).
func WebhookAddrAllowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.Is6() {
		b := ip.As16()
		switch {
		case b[0] == 0x20 && b[1] == 0x02: // 6to4 2002:V4ADDR::/48
			ip = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
		case netip.MustParsePrefix("64:ff9b::/96").Contains(ip): // NAT64
			ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		}
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range nonPublicPrefixes() {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// nonPublicPrefixes: the special-purpose ranges (RFC 6890 and its
// successors) that are global unicast to netip but not public.
func nonPublicPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
		"::/128", "100::/64", "2001::/23", "2001:db8::/32", "fc00::/7"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// PyRepr writes s as Python's repr() writes a str: in single quotes, or
// double quotes when s holds a single quote and no double quote (MLflow's
// messages quote values that way).
func PyRepr(s string) string {
	q := byte('\'')
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteByte(q)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// WebhookUpdate names what UpdateWebhook changes: nil fields stay.
// SealedSecret is the new secret already sealed ("" with a non-nil
// pointer removes the secret).
type WebhookUpdate struct {
	Name, Description, URL, SealedSecret, Status *string
	Events                                       []WebhookEvent // nil: unchanged
}
