package tandem

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Lifecycle stages of experiments and runs, as MLflow names them.
const (
	LifecycleActive  = "active"
	LifecycleDeleted = "deleted"
)

// DefaultExperimentID is the experiment every workspace has from the start,
// named DefaultExperimentName, as in MLflow.
const (
	DefaultExperimentID   = "0"
	DefaultExperimentName = "Default"
)

// MLflow's limits on experiments (mlflow/utils/validation.py).
const (
	MaxExperimentNameLength   = 500
	MaxExperimentTagKeyLength = 250
	MaxExperimentTagValLength = 20000
	MaxArtifactLocationLength = 2048
)

// Experiment groups runs. IDs are decimal integers written as strings,
// allocated in increasing order like MLflow's SQL store.
type Experiment struct {
	ExperimentID     string `json:"experiment_id"`
	Name             string `json:"name"`
	ArtifactLocation string `json:"artifact_location"`
	LifecycleStage   string `json:"lifecycle_stage"`
	LastUpdateTime   int64  `json:"last_update_time"`
	CreationTime     int64  `json:"creation_time"`
	Tags             []Tag  `json:"tags,omitempty"`
}

// Tag is a key/value pair on an experiment, a run, a dataset input, a
// registered model, a model version or a logged model (also logged model
// params).
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

var experimentIDRe = regexp.MustCompile(`^[a-zA-Z0-9][\w\-]{0,63}$`)

// ValidateExperimentID rejects ids MLflow rejects (EINVALID).
func ValidateExperimentID(id string) error {
	if !experimentIDRe.MatchString(id) {
		return Errorf(EINVALID, "Invalid experiment ID: '%s'", id)
	}
	return nil
}

// ValidateExperimentName checks an experiment name as MLflow does: not
// empty, at most MaxExperimentNameLength characters (EINVALID).
func ValidateExperimentName(name string) error {
	if name == "" {
		return Errorf(EINVALID, "Invalid experiment name: '%s'", name)
	}
	if n := len([]rune(name)); n > MaxExperimentNameLength {
		return Errorf(EINVALID, "'name' exceeds the maximum length of %d characters", MaxExperimentNameLength)
	}
	return CheckText("name", name)
}

// ValidateExperimentTag checks an experiment tag's key and value (EINVALID).
func ValidateExperimentTag(key, value string) error {
	if err := validateEntityName(key, "key", "Tag"); err != nil {
		return err
	}
	if len([]rune(key)) > MaxExperimentTagKeyLength {
		return Errorf(EINVALID, "'key' exceeds the maximum length of %d characters", MaxExperimentTagKeyLength)
	}
	if len([]rune(value)) > MaxExperimentTagValLength {
		return Errorf(EINVALID, "'value' exceeds the maximum length of %d characters", MaxExperimentTagValLength)
	}
	return CheckText("value", value)
}

// ExperimentArtifactLocation is where a new experiment's artifacts go when
// the client names no location: the artifact proxy's URI scheme.
func ExperimentArtifactLocation(id string) string {
	return fmt.Sprintf("mlflow-artifacts:/%s", id)
}

// ValidateArtifactLocation checks a client-given experiment artifact
// location as MLflow's server does: no fragment or params and no ".." in
// its query (CheckLocationURL), not a runs:/ URI, at most
// MaxArtifactLocationLength characters (EINVALID).
func ValidateArtifactLocation(loc string) error {
	if err := CheckLocationURL(loc, "artifact_location"); err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(loc, "runs:"):
		return Errorf(EINVALID, "Artifact location cannot be a runs:/ URI. Given: '%s'", loc)
	case len(loc) > MaxArtifactLocationLength:
		return Errorf(EINVALID, "Invalid artifact path length. The length of the artifact path cannot be greater than %d characters.", MaxArtifactLocationLength)
	}
	return nil
}

// ResolveArtifactLocation makes a relative local artifact location
// absolute against dir (the server's working directory), as MLflow's
// server does when an experiment is created: a path without a scheme
// becomes dir/path, a file: URI with a relative path becomes
// file://dir/path. "." segments and repeated slashes are dropped, ".."
// segments kept (as Python's pathlib joins). Anything else, absolute
// paths and other schemes included, is returned unchanged.
func ResolveArtifactLocation(loc, dir string) string {
	if loc == "" {
		return loc
	}
	scheme, rest, hasScheme := strings.Cut(loc, ":")
	if !hasScheme || !uriSchemeRE.MatchString(scheme) {
		if strings.HasPrefix(loc, "/") {
			return loc
		}
		return joinPathLike(dir, loc)
	}
	if !strings.EqualFold(scheme, "file") || strings.HasPrefix(rest, "/") {
		return loc
	}
	// file:relative[?query]: the path ends at a query or a fragment.
	path, tail := rest, ""
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		path, tail = rest[:i], rest[i:]
	}
	return scheme + "://" + joinPathLike(dir, path) + tail
}

var uriSchemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// joinPathLike joins rel to the absolute dir as pathlib does.
func joinPathLike(dir, rel string) string {
	segs := []string{}
	for _, s := range strings.Split(dir+"/"+rel, "/") {
		if s != "" && s != "." {
			segs = append(segs, s)
		}
	}
	return "/" + strings.Join(segs, "/")
}

// ViewType selects runs or experiments by lifecycle stage.
type ViewType int

// View types, numbered as MLflow's proto enum.
const (
	ActiveOnly  ViewType = 1
	DeletedOnly ViewType = 2
	AllStages   ViewType = 3
)

// hostAddressedSchemes are the URI schemes whose storage is reached by
// connecting to the host the URI names (mlflow-artifacts only with an
// authority: mlflow-artifacts:/path is this server's own proxy).
var hostAddressedSchemes = map[string]bool{"ftp": true, "sftp": true, "hdfs": true, "viewfs": true, "http": true, "https": true,
	"mlflow-artifacts": true, "r2": true, "b2": true, "abfss": true}

// HostAddressedScheme returns uri's scheme, lower-cased, when storage at
// uri would be reached by connecting to a host the URI names; "" when not
// (object stores, local paths, runs:/, models:/, mlflow-artifacts:/).
func HostAddressedScheme(uri string) string {
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok || !uriSchemeRE.MatchString(scheme) {
		return ""
	}
	scheme = strings.ToLower(scheme)
	if !hostAddressedSchemes[scheme] {
		return ""
	}
	if scheme == "mlflow-artifacts" {
		// Without an authority (mlflow-artifacts:/x, mlflow-artifacts:///x)
		// the URI names this server.
		authority, ok := strings.CutPrefix(rest, "//")
		if i := strings.IndexAny(authority, "/?#"); i >= 0 {
			authority = authority[:i]
		}
		if !ok || authority == "" {
			return ""
		}
	}
	return scheme
}

// CheckHostAddressed refuses a location a client gives in field (an
// experiment's artifact_location, a model version's source) that names a
// host to connect to, as MLflow 3's server does, unless its scheme is one
// of allowed (the server's MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES).
// A workspace keeps artifacts in its own storage: such a location would
// send clients, and anything that reads the location on the workspace's
// behalf, to a host of the client's choosing. EINVALID.
func CheckHostAddressed(uri, field string, allowed []string) error {
	scheme := HostAddressedScheme(uri)
	if scheme == "" {
		return nil
	}
	for _, a := range allowed {
		if strings.EqualFold(strings.TrimSpace(a), scheme) {
			return nil
		}
	}
	return Errorf(EINVALID, "'%s' cannot use the '%s' scheme: the '%s' scheme addresses a host other than the tracking server's configured artifact storage, so the server would connect to the host named in the URI. Set the MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES environment variable on the server to allow it.", field, scheme, scheme)
}

// paramSchemes are the schemes whose URLs carry ";params" in their last
// path segment, as Python's urllib (and so MLflow) parses them; "" is a
// location without a scheme (a local path).
var paramSchemes = map[string]bool{"": true, "ftp": true, "hdl": true, "prospero": true, "http": true, "imap": true, "https": true,
	"shttp": true, "rtsp": true, "rtspu": true, "sip": true, "sips": true, "mms": true, "sftp": true, "tel": true}

// CheckLocationURL refuses a storage location (the request field named)
// with a fragment or params, or whose query, percent-decoded, holds a
// ".." that a store could resolve as part of the path: MLflow's checks and
// messages, on the URL as Python's urllib splits it. EINVALID.
func CheckLocationURL(loc, field string) error {
	scheme, rest := "", loc
	if s, r, ok := strings.Cut(loc, ":"); ok && uriSchemeRE.MatchString(s) {
		scheme, rest = strings.ToLower(s), r
	}
	if strings.HasPrefix(rest, "//") { // the authority ends the path's search for params
		if i := strings.IndexAny(rest[2:], "/?#"); i >= 0 {
			rest = rest[2+i:]
		} else {
			rest = ""
		}
	}
	rest, fragment, _ := strings.Cut(rest, "#")
	path, query, _ := strings.Cut(rest, "?")
	params := ""
	if paramSchemes[scheme] {
		last := path[strings.LastIndexByte(path, '/')+1:]
		_, params, _ = strings.Cut(last, ";")
	}
	if fragment != "" || params != "" {
		return Errorf(EINVALID, "'%s' URL can't include fragments or params.", field)
	}
	for range 10 {
		u := unquote(query)
		if u == query {
			break
		}
		query = u
	}
	if strings.Contains(query, "..") {
		return Errorf(EINVALID, "Invalid query string")
	}
	return nil
}

// unquote decodes the valid %XX escapes of s and keeps the rest as it is,
// as Python's urllib.parse.unquote does.
func unquote(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// SearchExperimentsInput is a SearchExperiments request.
type SearchExperimentsInput struct {
	Filter     string
	ViewType   ViewType
	MaxResults int // 0 means SearchMaxResultsDefault
	OrderBy    []string
	PageToken  string
}
