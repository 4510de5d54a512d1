// Package workspace reads and validates workspace.yaml, the one declarative
// file that describes a tandem workspace: its name, its regions, which region
// starts as primary, the replication policy per asset kind, the durability
// mode, and how regions authenticate to each other.
//
// Parse never touches the network or a database; the only I/O is reading the
// peer key from a file or the environment (Key). Validation errors name the
// field that is wrong ("regions[1].metadata: required"), so a user can fix
// the file without reading code.
//
// Example:
//
//	workspace: demo
//	primary: eastus
//	peer_key: {file: peer.key}        # or {env: TANDEM_PEER_KEY}
//	forward_writes: true              # default true
//	durability: {mode: sync, timeout: 5s, on_no_ack: degrade}
//	replication:
//	  default: continuous
//	  kinds:
//	    experiments: continuous
//	    runs: {policy: snapshot, interval: 10m}
//	    models: none
//	regions:
//	  - name: eastus
//	    url: http://127.0.0.1:5000
//	    metadata: sqlite:///var/lib/tandem/eastus.db
//	    artifacts: file:///var/lib/tandem/eastus
//	  - name: westus
//	    url: http://127.0.0.1:5001
//	    metadata: postgres://tandem@db-west/tandem
//	    artifacts: s3://tandem-west?region=us-west-2
//	# failover settings, read by the failover machinery:
//	witness: http://127.0.0.1:5100
//	failover: manual                  # or automatic (needs witness)
//	lease_ttl: 10s
//	witness_key: {file: witness.key}  # or {env: TANDEM_WITNESS_KEY}; built-in witness only
//	max_lag_on_failover: 100          # journal entries; default: no limit
//	cooldown: 5m
package workspace

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/desired"
	"github.com/tandemml/tandem/tlsconf"
	"go.yaml.in/yaml/v3"
)

// Policy is how changes of one asset kind reach the secondaries.
type Policy string

const (
	// Continuous ships every change as it commits (hot/hot).
	Continuous Policy = "continuous"
	// Snapshot applies the kind's changes on secondaries in periodic
	// consistent batches (hot/warm).
	Snapshot Policy = "snapshot"
	// None keeps the kind in the primary only (hot/cold).
	None Policy = "none"
)

// KindPolicy is the replication policy of one kind.
type KindPolicy struct {
	Policy   Policy
	Interval time.Duration // Snapshot only: how often secondaries catch up the kind
}

// Durability modes.
const (
	Async = "async" // the primary acknowledges at commit
	Sync  = "sync"  // the primary acknowledges once a secondary applied the write
)

// What a sync primary does when no secondary acknowledges in time.
const (
	OnNoAckFail    = "fail"    // answer TEMPORARILY_UNAVAILABLE (the write stays committed on the primary)
	OnNoAckDegrade = "degrade" // acknowledge anyway and run async until a secondary catches up
)

// Durability is when the primary acknowledges a write.
type Durability struct {
	Mode    string        // Async or Sync
	Timeout time.Duration // Sync: how long to wait for a secondary
	OnNoAck string        // Sync: OnNoAckFail or OnNoAckDegrade
}

// Region is one region of the workspace.
type Region struct {
	Name        string
	URL         string // advertised base URL (what clients and peers use)
	Listen      string // host:port to listen on; defaults to URL's host:port
	MetadataURL string
	ArtifactURL string
	// TLS is the region's TLS (tls: at the top, overridden field by field
	// by the region's own tls:); see tls.go. Paths as written in the file.
	TLS tlsconf.Files
	// Registry is the region's container registry (host[:port][/path]):
	// environments' images are copied there (desired.go).
	Registry string
}

// PeerKey says where the key regions use to authenticate to each other
// comes from. The key itself is never stored in Workspace.
type PeerKey struct {
	File string // path, relative to the workspace file
	Env  string // environment variable name
}

// Workspace is a parsed and validated workspace.yaml.
type Workspace struct {
	Name          string
	Regions       []Region
	Primary       string
	Policies      map[tandem.Kind]KindPolicy // every kind in tandem.Kinds has an entry
	Durability    Durability
	ForwardWrites bool
	PeerKey       PeerKey
	// TrustedProxies (trusted_proxies: [CIDR, ...]) are the gateways
	// whose X-Forwarded-Proto/Host a region believes when it builds URLs
	// for clients (multipart parts, presigned downloads); from any other
	// address they are ignored and the region's url is used.
	TrustedProxies []netip.Prefix

	// Failover settings, validated here and used by the failover machinery.
	Witness  string
	Failover string // "manual" (default) or "automatic"
	LeaseTTL time.Duration
	// MaxLagEntries: a secondary more than this many journal entries
	// behind is never promoted automatically (max_lag_on_failover given as
	// an integer). -1: no limit (the default).
	MaxLagEntries int64
	Cooldown      time.Duration
	// WitnessKey says where the built-in witness's shared key comes from
	// (witness_key: {file|env}); empty: $TANDEM_WITNESS_KEY.
	WitnessKey PeerKey
	// Secrets says where the workspace key comes from (secrets.go).
	Secrets Secrets
	// Auth: identity and access (auth.go).
	Auth Auth
	// TLS is the top-level tls: (gateway, CLI, defaults of every region);
	// see tls.go. Paths as written in the file.
	TLS tlsconf.Files
	// Telemetry: where traces go (telemetry.go).
	Telemetry Telemetry
	// MLflowUI (mlflow_ui: auto or a folder): every region serves the
	// MLflow UI at / (package mlflowui).
	MLflowUI string
	// Jobs: workspace-wide job settings, the workspace quota (jobs.go).
	Jobs Jobs
	// Quotas: limits on the scoring instances each region runs (quotas.go).
	Quotas Quotas
	// Desired is the desired state the file declares besides its regions
	// (desired.go, package desired); never nil after Parse.
	Desired *desired.State

	dir string // folder of the file, for relative peer key paths
}

// Region returns the region named name, or ENOTFOUND.
func (w *Workspace) Region(name string) (Region, error) {
	for _, r := range w.Regions {
		if r.Name == name {
			return r, nil
		}
	}
	names := make([]string, len(w.Regions))
	for i, r := range w.Regions {
		names[i] = r.Name
	}
	return Region{}, tandem.Errorf(tandem.ENOTFOUND, "workspace %s has no region %q (regions: %s)", w.Name, name, strings.Join(names, ", "))
}

// Policy returns the policy of kind (Continuous for kinds the file and the
// default do not name).
func (w *Workspace) Policy(k tandem.Kind) KindPolicy {
	if p, ok := w.Policies[k]; ok {
		return p
	}
	if p, ok := w.Policies["*"]; ok {
		return p
	}
	return KindPolicy{Policy: Continuous}
}

// Key reads the peer key. It returns EINVALID when the key is missing or
// shorter than 16 bytes. Never log the result.
func (w *Workspace) Key() ([]byte, error) {
	var raw []byte
	switch {
	case w.PeerKey.Env != "":
		raw = []byte(os.Getenv(w.PeerKey.Env))
		if len(raw) == 0 {
			return nil, tandem.Errorf(tandem.EINVALID, "peer_key.env: environment variable %s is not set", w.PeerKey.Env)
		}
	case w.PeerKey.File != "":
		p := w.PeerKey.File
		if !filepath.IsAbs(p) {
			p = filepath.Join(w.dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "peer_key.file: %v", err)
		}
		raw = b
	default:
		return nil, tandem.Errorf(tandem.EINVALID, "peer_key: required (file: or env:)")
	}
	key := bytes.TrimSpace(raw)
	if len(key) < 16 {
		return nil, tandem.Errorf(tandem.EINVALID, "peer_key: the key must be at least 16 bytes")
	}
	return key, nil
}

// Load reads and validates the workspace file at path.
func Load(path string) (*Workspace, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "workspace file: %v", err)
	}
	w, err := parseFile(path, b)
	if err != nil {
		return nil, err
	}
	abs, _ := filepath.Abs(path)
	w.dir = filepath.Dir(abs)
	return w, nil
}

// file is the YAML shape; fields are pointers or nodes where presence matters.
type file struct {
	Workspace      string               `yaml:"workspace"`
	Primary        string               `yaml:"primary"`
	Regions        []regionFile         `yaml:"regions"`
	Replication    *replicationFile     `yaml:"replication"`
	Durability     *durabilityFile      `yaml:"durability"`
	ForwardWrites  *bool                `yaml:"forward_writes"`
	TrustedProxies []string             `yaml:"trusted_proxies"`
	PeerKey        *peerKeyFile         `yaml:"peer_key"`
	Witness        string               `yaml:"witness"`
	Failover       string               `yaml:"failover"`
	LeaseTTL       string               `yaml:"lease_ttl"`
	MaxLag         string               `yaml:"max_lag_on_failover"`
	Cooldown       string               `yaml:"cooldown"`
	WitnessKey     *peerKeyFile         `yaml:"witness_key"`
	Secrets        *secretsFile         `yaml:"secrets"`
	Auth           *authFile            `yaml:"auth"`
	TLS            *tlsFile             `yaml:"tls"`
	Telemetry      *telemetryFile       `yaml:"telemetry"`
	MLflowUI       string               `yaml:"mlflow_ui"`
	Jobs           yaml.Node            `yaml:"jobs"`   // jobs.go
	Quotas         yaml.Node            `yaml:"quotas"` // quotas.go
	desiredFile    `yaml:",inline"`     // desired.go: compute, datastores, roles, ...
	Extra          map[string]yaml.Node `yaml:",inline"`
}

type regionFile struct {
	Name      string `yaml:"name"`
	URL       string `yaml:"url"`
	Listen    string `yaml:"listen"`
	Metadata  string `yaml:"metadata"`
	Artifacts string `yaml:"artifacts"`
	Registry  string `yaml:"registry"` // desired.go: the region's container registry

	TLS *tlsFile `yaml:"tls"` // tls.go
}

type replicationFile struct {
	Default yaml.Node            `yaml:"default"`
	Kinds   map[string]yaml.Node `yaml:"kinds"`
}

type durabilityFile struct {
	Mode    string `yaml:"mode"`
	Timeout string `yaml:"timeout"`
	OnNoAck string `yaml:"on_no_ack"`
}

type peerKeyFile struct {
	File string `yaml:"file"`
	Env  string `yaml:"env"`
}

type policyFile struct {
	Policy   string `yaml:"policy"`
	Interval string `yaml:"interval"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Parse parses and validates a workspace file's bytes. Every error is
// EINVALID and names the field.
func Parse(b []byte) (*Workspace, error) { return parseFile("workspace.yaml", b) }

func parseFile(name string, b []byte) (*Workspace, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, invalid("workspace", "the file is empty")
		}
		return nil, tandem.Errorf(tandem.EINVALID, "workspace.yaml: %v", err)
	}
	for k := range f.Extra {
		return nil, invalid(k, "unknown field")
	}
	w := &Workspace{Name: f.Workspace, Primary: f.Primary, ForwardWrites: true,
		Policies: map[tandem.Kind]KindPolicy{}, Witness: f.Witness, Failover: f.Failover}
	if w.Name == "" {
		return nil, invalid("workspace", "required (the workspace name)")
	} else if !nameRE.MatchString(w.Name) {
		return nil, invalid("workspace", "%q must be lowercase letters, digits and '-', at most 63 characters", w.Name)
	}
	if len(f.Regions) == 0 {
		return nil, invalid("regions", "at least one region is required")
	}
	seen := map[string]bool{}
	for i, rf := range f.Regions {
		field := func(n string) string { return fmt.Sprintf("regions[%d].%s", i, n) }
		if rf.Name == "" {
			return nil, invalid(field("name"), "required")
		} else if !nameRE.MatchString(rf.Name) {
			return nil, invalid(field("name"), "%q must be lowercase letters, digits and '-'", rf.Name)
		} else if seen[rf.Name] {
			return nil, invalid(field("name"), "region %q is declared twice", rf.Name)
		}
		seen[rf.Name] = true
		r := Region{Name: rf.Name, URL: strings.TrimRight(rf.URL, "/"), Listen: rf.Listen, MetadataURL: rf.Metadata, ArtifactURL: rf.Artifacts}
		u, err := url.Parse(r.URL)
		if r.URL == "" {
			return nil, invalid(field("url"), "required (the URL clients and other regions use)")
		} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, invalid(field("url"), "%q must be an http:// or https:// URL with a host", r.URL)
		}
		if r.Listen == "" {
			r.Listen = u.Host
			if u.Port() == "" {
				if u.Scheme == "https" {
					r.Listen += ":443"
				} else {
					r.Listen += ":80"
				}
			}
		}
		if err := checkURL(r.MetadataURL, "sqlite", "sqlite3", "postgres", "postgresql"); err != nil {
			return nil, invalid(field("metadata"), "%v", err)
		}
		if err := checkURL(r.ArtifactURL, "file", "s3", "azblob", "gs"); err != nil {
			return nil, invalid(field("artifacts"), "%v", err)
		}
		w.Regions = append(w.Regions, r)
	}
	if w.Primary == "" {
		if len(w.Regions) > 1 {
			return nil, invalid("primary", "required when there is more than one region")
		}
		w.Primary = w.Regions[0].Name
	} else if !seen[w.Primary] {
		return nil, invalid("primary", "%q is not one of the regions", w.Primary)
	}
	if f.ForwardWrites != nil {
		w.ForwardWrites = *f.ForwardWrites
	}
	auth, aerr := parseAuth(f.Auth)
	if aerr != nil {
		return nil, aerr
	}
	w.Auth = auth
	tel, terr := parseTelemetry(f.Telemetry)
	if terr != nil {
		return nil, terr
	}
	w.Telemetry = tel
	w.MLflowUI = f.MLflowUI
	jobs, jerr := parseJobs(name, &f.Jobs)
	if jerr != nil {
		return nil, jerr
	}
	w.Jobs = jobs
	quotas, qerr := parseQuotas(name, &f.Quotas, seen)
	if qerr != nil {
		return nil, qerr
	}
	w.Quotas = quotas
	for _, c := range f.TrustedProxies {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, invalid("trusted_proxies", "%q is not a CIDR prefix (e.g. 10.0.0.0/8)", c)
		}
		w.TrustedProxies = append(w.TrustedProxies, p.Masked())
	}
	if err := parseReplication(w, f.Replication); err != nil {
		return nil, err
	}
	w.Durability = Durability{Mode: Async, Timeout: 5 * time.Second, OnNoAck: OnNoAckFail}
	if d := f.Durability; d != nil {
		if d.Mode != "" {
			w.Durability.Mode = d.Mode
		}
		if w.Durability.Mode != Async && w.Durability.Mode != Sync {
			return nil, invalid("durability.mode", "%q must be async or sync", d.Mode)
		}
		if d.Timeout != "" {
			t, err := duration(d.Timeout)
			if err != nil || t <= 0 {
				return nil, invalid("durability.timeout", "%q must be a positive duration such as 5s", d.Timeout)
			}
			w.Durability.Timeout = t
		}
		if d.OnNoAck != "" {
			w.Durability.OnNoAck = d.OnNoAck
		}
		if w.Durability.OnNoAck != OnNoAckFail && w.Durability.OnNoAck != OnNoAckDegrade {
			return nil, invalid("durability.on_no_ack", "%q must be fail or degrade", d.OnNoAck)
		}
		if w.Durability.Mode == Sync && len(w.Regions) < 2 {
			return nil, invalid("durability.mode", "sync needs at least two regions")
		}
	}
	if f.PeerKey != nil {
		w.PeerKey = PeerKey{File: f.PeerKey.File, Env: f.PeerKey.Env}
		if w.PeerKey.File != "" && w.PeerKey.Env != "" {
			return nil, invalid("peer_key", "give file or env, not both")
		}
	}
	if len(w.Regions) > 1 && w.PeerKey.File == "" && w.PeerKey.Env == "" {
		return nil, invalid("peer_key", "required when there is more than one region (file: PATH or env: NAME)")
	}
	if w.Witness != "" {
		if err := checkURL(w.Witness, "http", "https", "etcd"); err != nil {
			return nil, invalid("witness", "%v", err)
		}
	}
	switch w.Failover {
	case "":
		w.Failover = "manual"
	case "manual":
	case "automatic":
		if w.Witness == "" {
			return nil, invalid("failover", "automatic failover needs a witness (set witness:)")
		}
	default:
		return nil, invalid("failover", "%q must be automatic or manual", w.Failover)
	}
	var err error
	if w.LeaseTTL, err = optDuration("lease_ttl", f.LeaseTTL, 10*time.Second); err != nil {
		return nil, err
	}
	w.MaxLagEntries = -1
	if n, perr := strconv.ParseInt(f.MaxLag, 10, 64); perr == nil {
		if n < 0 {
			return nil, invalid("max_lag_on_failover", "%d must not be negative", n)
		}
		w.MaxLagEntries = n
	} else if f.MaxLag != "" {
		return nil, invalid("max_lag_on_failover", "%q must be a number of journal entries (a secondary further behind is never promoted automatically)", f.MaxLag)
	}
	if k := f.WitnessKey; k != nil {
		if k.File != "" && k.Env != "" {
			return nil, invalid("witness_key", "give file or env, not both")
		}
		w.WitnessKey = PeerKey{File: k.File, Env: k.Env}
	}
	if w.Cooldown, err = optDuration("cooldown", f.Cooldown, 5*time.Minute); err != nil {
		return nil, err
	}
	if err := parseSecrets(w, f.Secrets); err != nil {
		return nil, err
	}
	if err := parseTLS(w, &f); err != nil {
		return nil, err
	}
	if err := parseDesired(w, name, &f); err != nil {
		return nil, err
	}
	if f.Jobs.Kind != 0 && f.Jobs.Tag != "!!null" { // apply writes the jobs: section to every region
		w.Desired.AddJobSettings(tandem.JobSettings{MaxInstances: w.Jobs.MaxInstances, Resubmit: w.Jobs.Resubmit},
			desired.Pos{File: name, Line: f.Jobs.Line, Column: f.Jobs.Column})
	}
	if f.Quotas.Kind != 0 && f.Quotas.Tag != "!!null" { // and the quotas: section
		w.Desired.AddQuotaSettings(w.Quotas.Settings(), desired.Pos{File: name, Line: f.Quotas.Line, Column: f.Quotas.Column})
	}
	return w, nil
}

func parseReplication(w *Workspace, rf *replicationFile) error {
	if rf == nil {
		return nil
	}
	if rf.Default.Kind != 0 {
		p, err := parsePolicy("replication.default", &rf.Default)
		if err != nil {
			return err
		}
		w.Policies["*"] = p
	}
	known := map[string]bool{}
	for _, k := range tandem.Kinds {
		known[string(k)] = true
	}
	for name, node := range rf.Kinds {
		field := "replication.kinds." + name
		if !known[name] {
			names := make([]string, len(tandem.Kinds))
			for i, k := range tandem.Kinds {
				names[i] = string(k)
			}
			return invalid(field, "unknown asset kind (kinds: %s)", strings.Join(names, ", "))
		}
		p, err := parsePolicy(field, &node)
		if err != nil {
			return err
		}
		w.Policies[tandem.Kind(name)] = p
	}
	return nil
}

// parsePolicy accepts "continuous", "none", "snapshot 10m" or
// {policy: snapshot, interval: 10m}.
func parsePolicy(field string, n *yaml.Node) (KindPolicy, error) {
	var pf policyFile
	switch n.Kind {
	case yaml.ScalarNode:
		parts := strings.Fields(n.Value)
		if len(parts) > 0 {
			pf.Policy = parts[0]
		}
		if len(parts) == 2 {
			pf.Interval = parts[1]
		} else if len(parts) > 2 {
			return KindPolicy{}, invalid(field, "%q: expected continuous, none or \"snapshot INTERVAL\"", n.Value)
		}
	case yaml.MappingNode:
		if err := n.Decode(&pf); err != nil {
			return KindPolicy{}, invalid(field, "%v", err)
		}
	default:
		return KindPolicy{}, invalid(field, "expected continuous, none, \"snapshot 10m\" or {policy: snapshot, interval: 10m}")
	}
	p := KindPolicy{Policy: Policy(pf.Policy)}
	switch p.Policy {
	case Continuous, None:
		if pf.Interval != "" {
			return KindPolicy{}, invalid(field+".interval", "only a snapshot policy takes an interval")
		}
	case Snapshot:
		if pf.Interval == "" {
			return KindPolicy{}, invalid(field+".interval", "required for a snapshot policy (for example 10m)")
		}
		d, err := duration(pf.Interval)
		if err != nil || d < time.Second {
			return KindPolicy{}, invalid(field+".interval", "%q must be a duration of at least 1s", pf.Interval)
		}
		p.Interval = d
	default:
		return KindPolicy{}, invalid(field+".policy", "%q must be continuous, snapshot or none", pf.Policy)
	}
	return p, nil
}

func checkURL(raw string, schemes ...string) error {
	if raw == "" {
		return errors.New("required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %v", redact(err.Error()))
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return nil
		}
	}
	return fmt.Errorf("scheme %q must be one of %s", u.Scheme, strings.Join(schemes, ", "))
}

// redact drops anything that looks like the password part of a URL from
// error messages.
func redact(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		if j := strings.Index(s[i+3:], "@"); j >= 0 {
			return s[:i+3] + "***" + s[i+3+j:]
		}
	}
	return s
}

func duration(s string) (time.Duration, error) { return time.ParseDuration(s) }

func optDuration(field, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := duration(s)
	if err != nil || d < 0 {
		return 0, invalid(field, "%q must be a duration such as 10s", s)
	}
	return d, nil
}

func invalid(field, format string, args ...any) error {
	return tandem.Errorf(tandem.EINVALID, "workspace.yaml: %s: %s", field, fmt.Sprintf(format, args...))
}

// WitnessKeyValue reads the built-in witness's shared key: witness_key's
// file (relative to the workspace file) or environment variable, else
// $TANDEM_WITNESS_KEY. EINVALID when none is set. Never log the result.
func (w *Workspace) WitnessKeyValue() (string, error) {
	switch {
	case w.WitnessKey.Env != "":
		if v := strings.TrimSpace(os.Getenv(w.WitnessKey.Env)); v != "" {
			return v, nil
		}
		return "", tandem.Errorf(tandem.EINVALID, "witness_key.env: environment variable %s is not set", w.WitnessKey.Env)
	case w.WitnessKey.File != "":
		p := w.WitnessKey.File
		if !filepath.IsAbs(p) {
			p = filepath.Join(w.dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", tandem.Errorf(tandem.EINVALID, "witness_key.file: %v", err)
		}
		if v := strings.TrimSpace(string(b)); v != "" {
			return v, nil
		}
		return "", tandem.Errorf(tandem.EINVALID, "witness_key.file: %s is empty", p)
	}
	if v := strings.TrimSpace(os.Getenv("TANDEM_WITNESS_KEY")); v != "" {
		return v, nil
	}
	return "", tandem.Errorf(tandem.EINVALID, "witness_key: no key for the built-in witness (witness_key: {file|env} or TANDEM_WITNESS_KEY)")
}
