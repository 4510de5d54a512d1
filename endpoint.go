package tandem

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Online endpoints serve registered models over HTTP, the way Azure ML's
// managed online endpoints do: an endpoint is a stable scoring URL with its
// own keys, a deployment is a model running as scoring processes behind
// it, and the endpoint splits live traffic between its deployments by
// percentage (blue/green) and may mirror a share of it to a shadow
// deployment. An endpoint's placement is part of the replicated workspace:
// every region it names runs its deployments' processes (hot/hot), the
// secondaries included, since scoring needs no primary.

// Endpoint authentication modes (Azure ML's auth_mode).
const (
	// EndpointAuthKey: a request carries one of the endpoint's two keys
	// (Authorization: Bearer KEY).
	EndpointAuthKey = "key"
	// EndpointAuthToken: a request carries a tandem token whose principal
	// may ActionEndpointScore.
	EndpointAuthToken = "aml_token"
)

// Actions on online endpoints and their deployments, with Azure ML's names.
const (
	ActionEndpointsRead     = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/read"
	ActionEndpointsWrite    = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/write"
	ActionEndpointsDelete   = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/delete"
	ActionEndpointKeys      = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/listKeys/action"
	ActionEndpointRegenKeys = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/regenerateKeys/action"
	ActionEndpointScore     = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/score/action"
	ActionDeploymentsRead   = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments/read"
	ActionDeploymentsWrite  = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments/write"
	ActionDeploymentsDelete = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments/delete"
)

// AllRegions is the placement of an endpoint served by every region.
const AllRegions = "all"

// Limits of an endpoint's definition.
const (
	MaxInstanceCount      = 64
	MaxRequestTimeoutMS   = 180000 // Azure's limit: 3 minutes
	MaxConcurrentRequests = 1000
	MaxMirrorPercent      = 50 // Azure mirrors at most half the traffic
)

// EndpointQuota maps a region to the most scoring instances it may run
// for all its endpoints' deployments together (workspace.yaml's
// quotas.endpoint_instances); a region with no entry has no limit.
type EndpointQuota map[string]int

// QuotaSettings are the workspace's quotas (workspace.yaml's quotas:
// section) as tandem apply writes them to the workspace, so that every
// region checks the same without a restart: EndpointInstances is each
// region's limit, Regions a region's own (0: no limit).
type QuotaSettings struct {
	EndpointInstances int                    `json:"endpoint_instances"`
	Regions           map[string]QuotaRegion `json:"regions,omitempty"`
}

// QuotaRegion is one region's own quotas.
type QuotaRegion struct {
	EndpointInstances int `json:"endpoint_instances"`
}

// MaxQuota bounds a quota (a larger one is a mistake, not a limit).
const MaxQuota = 1 << 20

// Validate checks the quotas' counts.
func (q QuotaSettings) Validate() error {
	if q.EndpointInstances < 0 || q.EndpointInstances > MaxQuota {
		return Errorf(EINVALID, "quotas.endpoint_instances must be between 0 (no limit) and %d, got %d", MaxQuota, q.EndpointInstances)
	}
	for _, r := range SortedKeys(q.Regions) {
		if n := q.Regions[r].EndpointInstances; n < 0 || n > MaxQuota {
			return Errorf(EINVALID, "quotas.regions.%s.endpoint_instances must be between 0 (no limit) and %d, got %d", r, MaxQuota, n)
		}
	}
	return nil
}

// EndpointQuota is each of regions' limit (a region without one has no
// entry).
func (q QuotaSettings) EndpointQuota(regions []string) EndpointQuota {
	out := EndpointQuota{}
	for _, r := range regions {
		n := q.EndpointInstances
		if own, ok := q.Regions[r]; ok {
			n = own.EndpointInstances
		}
		if n > 0 {
			out[r] = n
		}
	}
	return out
}

// Fleet is every online endpoint and deployment of the workspace.
type Fleet struct {
	Endpoints   []*OnlineEndpoint
	Deployments []*OnlineDeployment
}

// FleetCheck decides whether a write of an endpoint or a deployment may
// be done, given the fleet before it and as it would leave it; the store
// runs it inside the write's transaction.
type FleetCheck func(before, after Fleet) error

// OnlineEndpoint is a scoring URL and its traffic rules. Its keys are not
// part of it: they are sealed with the workspace key in the store and shown
// only by get-credentials.
type OnlineEndpoint struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	AuthMode    string            `json:"auth_mode"`
	// Traffic maps deployment name -> percent of live requests; the
	// percents sum to 100, or to 0 when nothing is routed yet.
	Traffic map[string]int `json:"traffic,omitempty"`
	// MirrorTraffic maps at most one deployment to the percent of live
	// requests also copied to it (its answers are dropped).
	MirrorTraffic map[string]int `json:"mirror_traffic,omitempty"`
	// Regions is the placement: nil (or ["all"] on input) is every region.
	Regions   []string `json:"regions,omitempty"`
	CreatedMS int64    `json:"created_ms,omitempty"`
	UpdatedMS int64    `json:"updated_ms,omitempty"`
}

// OnlineDeployment is one model served behind an endpoint by InstanceCount
// scoring processes in each region of the endpoint's placement.
type OnlineDeployment struct {
	Endpoint    string            `json:"endpoint"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	// Model is the reference as given: azureml:NAME:VERSION,
	// models:/NAME/VERSION or models:/NAME@ALIAS.
	Model string `json:"model"`
	// ModelName and ModelVersion are the registered version Model named
	// when the deployment was written (an alias is resolved then, so every
	// region serves the same version).
	ModelName     string `json:"model_name,omitempty"`
	ModelVersion  int64  `json:"model_version,omitempty"`
	InstanceCount int    `json:"instance_count"`
	// InstanceCounts overrides InstanceCount per region (workspace.yaml's
	// regions.<name>.instance_count); 0 runs none there.
	InstanceCounts map[string]int `json:"instance_counts,omitempty"`
	// Environment and Compute are what the deployment was declared with
	// (workspace.yaml): the environment asset version and the compute
	// whose quota its instances count against (plan's capacity check).
	// MLflow models are served by the region's scoring python.
	Environment          string            `json:"environment,omitempty"`
	Compute              string            `json:"compute,omitempty"`
	RequestSettings      RequestSettings   `json:"request_settings"`
	LivenessProbe        Probe             `json:"liveness_probe"`
	ReadinessProbe       Probe             `json:"readiness_probe"`
	EnvironmentVariables map[string]string `json:"environment_variables,omitempty"`
	// DataCollector, when set, samples scoring requests into request logs
	// in the deployment's MLflow run (nil: no request logs).
	DataCollector *DataCollector `json:"data_collector,omitempty"`
	CreatedMS     int64          `json:"created_ms,omitempty"`
	UpdatedMS     int64          `json:"updated_ms,omitempty"`
}

// DataCollector is the subset of Azure ML's data_collector that tandem
// carries out: each region's scoring router logs SamplingRate of the
// requests routed to the deployment, one JSON line each, with the request
// body (collection model_inputs) and the response body (model_outputs)
// when those collections are enabled. The lines go to the deployment's
// MLflow run, rolled hourly (Azure's rolling_rate: hour).
type DataCollector struct {
	// SamplingRate is the share of requests logged, 0.0 to 1.0; nil on
	// input is Azure's default, 1.0 (Normalize fills it).
	SamplingRate *float64                  `json:"sampling_rate,omitempty"`
	RollingRate  string                    `json:"rolling_rate,omitempty"`
	Collections  map[string]DataCollection `json:"collections,omitempty"`
}

// DataCollection is one collection of a data collector.
type DataCollection struct {
	Enabled bool `json:"enabled"`
}

// The collections a data collector may name: the request body and the
// response body of a scoring request.
const (
	CollectionModelInputs  = "model_inputs"
	CollectionModelOutputs = "model_outputs"
)

// Rate is the sampling rate (1.0 when unset).
func (c *DataCollector) Rate() float64 {
	if c == nil {
		return 0
	}
	if c.SamplingRate == nil {
		return 1
	}
	return *c.SamplingRate
}

// Collects reports whether collection name is enabled.
func (c *DataCollector) Collects(name string) bool {
	return c != nil && c.Collections[name].Enabled
}

// Normalize fills the defaults (sampling rate 1.0, rolling hourly) and
// checks the values.
func (c *DataCollector) Normalize() error {
	if c.SamplingRate == nil {
		one := 1.0
		c.SamplingRate = &one
	}
	if r := *c.SamplingRate; !(r >= 0 && r <= 1) {
		return Errorf(EINVALID, "data_collector.sampling_rate %v: between 0.0 and 1.0", r)
	}
	switch c.RollingRate {
	case "", "hour", "Hour":
		c.RollingRate = "hour"
	default:
		return Errorf(EINVALID, "data_collector.rolling_rate %q: tandem rolls request logs hourly (hour only)", c.RollingRate)
	}
	for _, k := range SortedKeys(c.Collections) {
		if k != CollectionModelInputs && k != CollectionModelOutputs {
			return Errorf(EINVALID, "data_collector.collections.%s: tandem collects %s (the request body) and %s (the response body) only", k, CollectionModelInputs, CollectionModelOutputs)
		}
	}
	return nil
}

// SampleRequest decides whether one scoring request is logged, given the
// sampling rate and r drawn uniformly from [0, 1): rate 1 logs every
// request, rate 0 none.
func SampleRequest(rate, r float64) bool {
	return rate > 0 && r < rate
}

// RequestSettings bound one scoring request and an instance's load.
type RequestSettings struct {
	RequestTimeoutMS                 int `json:"request_timeout_ms"`
	MaxConcurrentRequestsPerInstance int `json:"max_concurrent_requests_per_instance"`
}

// Probe is a liveness or readiness probe of a scoring process, in seconds
// (Azure ML's fields).
type Probe struct {
	InitialDelay     int `json:"initial_delay"`
	Period           int `json:"period"`
	Timeout          int `json:"timeout"`
	SuccessThreshold int `json:"success_threshold"`
	FailureThreshold int `json:"failure_threshold"`
}

// EndpointKeys are an endpoint's two keys. Only get-credentials returns
// them; nothing logs them.
type EndpointKeys struct {
	PrimaryKey   string `json:"primaryKey"`
	SecondaryKey string `json:"secondaryKey"`
}

var (
	endpointNameRE   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$`)
	deploymentNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$`)
	envVarRE         = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// ValidateEndpointName checks an endpoint name as Azure ML does: 3 to 32
// letters, digits and '-', starting with a letter, not ending with '-'.
func ValidateEndpointName(name string) error {
	if !endpointNameRE.MatchString(name) {
		return Errorf(EINVALID, "invalid endpoint name %q: 3 to 32 letters, digits and '-', starting with a letter and not ending with '-'", name)
	}
	return nil
}

// ValidateDeploymentName checks a deployment name (the same rule).
func ValidateDeploymentName(name string) error {
	if !deploymentNameRE.MatchString(name) {
		return Errorf(EINVALID, "invalid deployment name %q: 3 to 32 letters, digits and '-', starting with a letter and not ending with '-'", name)
	}
	return nil
}

// Normalize fills defaults (auth_mode key, placement "all" as nil) and
// validates the endpoint on its own; Deployments checks the traffic
// against the deployments that exist.
func (e *OnlineEndpoint) Normalize() error {
	if err := ValidateEndpointName(e.Name); err != nil {
		return err
	}
	if err := CheckText("description", e.Description); err != nil {
		return err
	}
	switch e.AuthMode {
	case "":
		e.AuthMode = EndpointAuthKey
	case EndpointAuthKey, EndpointAuthToken:
	default:
		return Errorf(EINVALID, "endpoint %s: auth_mode %q must be key or aml_token", e.Name, e.AuthMode)
	}
	sum := 0
	for _, d := range SortedKeys(e.Traffic) {
		p := e.Traffic[d]
		if err := ValidateDeploymentName(d); err != nil {
			return Errorf(EINVALID, "endpoint %s: traffic: %s", e.Name, ErrorMessage(err))
		}
		if p < 0 || p > 100 {
			return Errorf(EINVALID, "endpoint %s: traffic.%s = %d: a percent is between 0 and 100", e.Name, d, p)
		}
		sum += p
	}
	if sum != 0 && sum != 100 {
		return Errorf(EINVALID, "endpoint %s: traffic sums to %d: the percents must sum to 100 (or 0 to route nothing)", e.Name, sum)
	}
	if len(e.MirrorTraffic) > 1 {
		return Errorf(EINVALID, "endpoint %s: mirror_traffic names %d deployments: traffic is mirrored to one deployment at most", e.Name, len(e.MirrorTraffic))
	}
	for d, p := range e.MirrorTraffic {
		if err := ValidateDeploymentName(d); err != nil {
			return Errorf(EINVALID, "endpoint %s: mirror_traffic: %s", e.Name, ErrorMessage(err))
		}
		if p < 0 || p > MaxMirrorPercent {
			return Errorf(EINVALID, "endpoint %s: mirror_traffic.%s = %d: between 0 and %d percent", e.Name, d, p, MaxMirrorPercent)
		}
		if e.Traffic[d] > 0 && p > 0 {
			return Errorf(EINVALID, "endpoint %s: deployment %s receives live traffic (%d%%), so it cannot also receive mirrored traffic", e.Name, d, e.Traffic[d])
		}
	}
	regions := e.Regions
	e.Regions = nil
	seen := map[string]bool{}
	for _, r := range regions {
		switch {
		case r == AllRegions && len(regions) == 1:
			return nil
		case r == AllRegions:
			return Errorf(EINVALID, "endpoint %s: regions: \"all\" stands alone (or list region names)", e.Name)
		case r == "" || seen[r]:
			return Errorf(EINVALID, "endpoint %s: regions: %q is empty or repeated", e.Name, r)
		}
		seen[r] = true
		e.Regions = append(e.Regions, r)
	}
	sort.Strings(e.Regions)
	return nil
}

// Serves reports whether region runs this endpoint's deployments.
func (e *OnlineEndpoint) Serves(region string) bool {
	if len(e.Regions) == 0 {
		return true
	}
	for _, r := range e.Regions {
		if r == region {
			return true
		}
	}
	return false
}

// CheckDeployments checks that every deployment the traffic and mirror
// traffic name exists among names.
func (e *OnlineEndpoint) CheckDeployments(names map[string]bool) error {
	for _, m := range []map[string]int{e.Traffic, e.MirrorTraffic} {
		for _, d := range SortedKeys(m) {
			if m[d] > 0 && !names[d] {
				return Errorf(EINVALID, "endpoint %s: traffic names deployment %s, which does not exist: create it first", e.Name, d)
			}
		}
	}
	return nil
}

// Defaults of a deployment, as Azure ML's.
var (
	DefaultRequestSettings = RequestSettings{RequestTimeoutMS: 5000, MaxConcurrentRequestsPerInstance: 1}
	DefaultLivenessProbe   = Probe{InitialDelay: 10, Period: 10, Timeout: 2, SuccessThreshold: 1, FailureThreshold: 30}
	DefaultReadinessProbe  = Probe{InitialDelay: 10, Period: 10, Timeout: 2, SuccessThreshold: 1, FailureThreshold: 30}
)

// Normalize fills a deployment's defaults (instance_count 1, Azure ML's
// request settings and probes) and validates it. The model reference is
// parsed but not resolved (the store resolves it against the registry).
// InstancesIn is how many scoring processes the deployment runs in region.
func (d *OnlineDeployment) InstancesIn(region string) int {
	if n, ok := d.InstanceCounts[region]; ok {
		return n
	}
	return d.InstanceCount
}

func (d *OnlineDeployment) Normalize() error {
	if err := ValidateEndpointName(d.Endpoint); err != nil {
		return err
	}
	if err := ValidateDeploymentName(d.Name); err != nil {
		return err
	}
	if err := CheckText("description", d.Description); err != nil {
		return err
	}
	if _, _, _, err := ParseModelRef(d.Model); err != nil {
		return Errorf(EINVALID, "deployment %s: %s", d.Name, ErrorMessage(err))
	}
	if d.InstanceCount == 0 {
		d.InstanceCount = 1
	}
	if d.InstanceCount < 0 || d.InstanceCount > MaxInstanceCount {
		return Errorf(EINVALID, "deployment %s: instance_count %d: between 1 and %d", d.Name, d.InstanceCount, MaxInstanceCount)
	}
	for _, r := range SortedKeys(d.InstanceCounts) {
		if n := d.InstanceCounts[r]; r == "" || n < 0 || n > MaxInstanceCount {
			return Errorf(EINVALID, "deployment %s: instance_counts.%s = %d: a region's count is between 0 and %d", d.Name, r, n, MaxInstanceCount)
		}
	}
	if err := CheckText("environment", d.Environment); err != nil {
		return err
	}
	if err := CheckText("compute", d.Compute); err != nil {
		return err
	}
	rs := &d.RequestSettings
	if rs.RequestTimeoutMS == 0 {
		rs.RequestTimeoutMS = DefaultRequestSettings.RequestTimeoutMS
	}
	if rs.MaxConcurrentRequestsPerInstance == 0 {
		rs.MaxConcurrentRequestsPerInstance = DefaultRequestSettings.MaxConcurrentRequestsPerInstance
	}
	if rs.RequestTimeoutMS < 0 || rs.RequestTimeoutMS > MaxRequestTimeoutMS {
		return Errorf(EINVALID, "deployment %s: request_settings.request_timeout_ms %d: between 1 and %d", d.Name, rs.RequestTimeoutMS, MaxRequestTimeoutMS)
	}
	if rs.MaxConcurrentRequestsPerInstance < 0 || rs.MaxConcurrentRequestsPerInstance > MaxConcurrentRequests {
		return Errorf(EINVALID, "deployment %s: request_settings.max_concurrent_requests_per_instance %d: between 1 and %d", d.Name, rs.MaxConcurrentRequestsPerInstance, MaxConcurrentRequests)
	}
	for _, p := range []struct {
		name string
		p    *Probe
		def  Probe
	}{{"liveness_probe", &d.LivenessProbe, DefaultLivenessProbe}, {"readiness_probe", &d.ReadinessProbe, DefaultReadinessProbe}} {
		if err := p.p.normalize(p.def); err != nil {
			return Errorf(EINVALID, "deployment %s: %s.%s", d.Name, p.name, ErrorMessage(err))
		}
	}
	for _, k := range SortedKeys(d.EnvironmentVariables) {
		if !envVarRE.MatchString(k) {
			return Errorf(EINVALID, "deployment %s: environment_variables: %q is not a variable name", d.Name, k)
		}
		if strings.ContainsRune(d.EnvironmentVariables[k], 0) {
			return Errorf(EINVALID, "deployment %s: environment_variables.%s holds a NUL byte", d.Name, k)
		}
	}
	if d.DataCollector != nil {
		if err := d.DataCollector.Normalize(); err != nil {
			return Errorf(EINVALID, "deployment %s: %s", d.Name, ErrorMessage(err))
		}
	}
	return nil
}

func (p *Probe) normalize(def Probe) error {
	fields := []struct {
		name string
		v    *int
		def  int
	}{{"initial_delay", &p.InitialDelay, def.InitialDelay}, {"period", &p.Period, def.Period},
		{"timeout", &p.Timeout, def.Timeout}, {"success_threshold", &p.SuccessThreshold, def.SuccessThreshold},
		{"failure_threshold", &p.FailureThreshold, def.FailureThreshold}}
	for _, f := range fields {
		if *f.v == 0 {
			*f.v = f.def
		}
		if *f.v < 0 || *f.v > 3600 {
			return Errorf(EINVALID, "%s %d: between 0 and 3600", f.name, *f.v)
		}
	}
	return nil
}

// ParseModelRef reads a deployment's model reference: azureml:NAME:VERSION,
// models:/NAME/VERSION or models:/NAME@ALIAS. It returns the registered
// model's name and either its version (> 0) or an alias.
func ParseModelRef(ref string) (name string, version int64, alias string, err error) {
	bad := func(why string) (string, int64, string, error) {
		return "", 0, "", Errorf(EINVALID, "model %q: %s (use azureml:NAME:VERSION, models:/NAME/VERSION or models:/NAME@ALIAS)", ref, why)
	}
	var ver string
	switch {
	case ref == "":
		return bad("a model is required")
	case strings.HasPrefix(ref, "azureml:"):
		rest := strings.TrimPrefix(ref, "azureml:")
		if strings.HasPrefix(rest, "//") {
			return bad("registry and workspace URIs are not supported")
		}
		i := strings.LastIndex(rest, ":")
		if i < 0 {
			if n, a, ok := strings.Cut(rest, "@"); ok {
				name, alias = n, a
				break
			}
			return bad("no version")
		}
		name, ver = rest[:i], rest[i+1:]
	case strings.HasPrefix(ref, "models:/"):
		rest := strings.TrimPrefix(ref, "models:/")
		if n, a, ok := strings.Cut(rest, "@"); ok {
			name, alias = n, a
			break
		}
		i := strings.LastIndex(rest, "/")
		if i < 0 {
			return bad("no version or alias")
		}
		name, ver = rest[:i], rest[i+1:]
	default:
		return bad("unknown form")
	}
	if name == "" || strings.ContainsAny(name, "/:@") {
		return bad("no model name")
	}
	if alias != "" || ver == "" {
		if alias == "" || strings.ContainsAny(alias, "/:@") {
			return bad("empty or malformed alias")
		}
		return name, 0, alias, nil
	}
	v, perr := strconv.ParseInt(ver, 10, 64)
	if perr != nil || v < 1 {
		return bad(fmt.Sprintf("version %q is not a positive integer", ver))
	}
	return name, v, "", nil
}

// RouteRequest is the traffic router: it chooses the deployment that
// serves one live request, given the endpoint's traffic percents, which
// deployments have a healthy instance, and r, a number drawn uniformly from
// [0, 1). Deployments are laid out in name order on [0, 100) by their
// percents and r*100 falls on one. When that one has no healthy instance,
// the request goes to the healthy deployments with traffic instead, in
// proportion to their percents (a deployment being rolled or restarted
// does not fail requests another one can answer). ok is false when no
// deployment with traffic is healthy.
func RouteRequest(traffic map[string]int, healthy map[string]bool, r float64) (string, bool) {
	names := SortedKeys(traffic)
	pick := func(eligible func(string) bool) (string, bool) {
		total := 0
		for _, n := range names {
			if traffic[n] > 0 && eligible(n) {
				total += traffic[n]
			}
		}
		if total == 0 {
			return "", false
		}
		x := r * float64(total)
		acc := 0
		last := ""
		for _, n := range names {
			if traffic[n] <= 0 || !eligible(n) {
				continue
			}
			acc += traffic[n]
			last = n
			if x < float64(acc) {
				return n, true
			}
		}
		return last, true // r rounding up to 1
	}
	d, ok := pick(func(string) bool { return true })
	if !ok || healthy[d] {
		return d, ok && healthy[d]
	}
	return pick(func(n string) bool { return healthy[n] })
}

// MirrorRequest decides whether a live request is also copied to the
// mirror deployment, given mirror_traffic and r drawn uniformly from
// [0, 1) (independently of the routing draw).
func MirrorRequest(mirror map[string]int, r float64) (string, bool) {
	for d, p := range mirror {
		if p > 0 && r*100 < float64(p) {
			return d, true
		}
	}
	return "", false
}

// PutMode says whether a put may create, replace, or both.
type PutMode string

const (
	PutUpsert PutMode = ""       // create or replace
	PutCreate PutMode = "create" // EEXISTS when it exists
	PutUpdate PutMode = "update" // ENOTFOUND when it does not
)
