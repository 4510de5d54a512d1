package tandem

import (
	"bytes"
	"encoding/json"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// AssetKind names one kind of workspace asset managed as code: the YAML
// "kind" a file describes and the path segment of tandem's REST API.
type AssetKind string

// The asset kinds of tandem's own API. Each maps to a journal Kind.
const (
	AssetModel       AssetKind = "model"
	AssetEnvironment AssetKind = "environment"
	AssetData        AssetKind = "data"
	AssetDatastore   AssetKind = "datastore"
	AssetComponent   AssetKind = "component"
	AssetPipeline    AssetKind = "pipeline"
)

// AssetKinds lists the asset kinds in a stable order.
var AssetKinds = []AssetKind{AssetModel, AssetEnvironment, AssetData, AssetDatastore, AssetComponent, AssetPipeline}

// ParseAssetKind returns the kind named s ("environment", "environments",
// ...), or an EINVALID error.
func ParseAssetKind(s string) (AssetKind, error) {
	s = strings.TrimSuffix(strings.ToLower(s), "s")
	for _, k := range AssetKinds {
		if string(k) == s || string(k) == strings.TrimSuffix(s, "s") {
			return k, nil
		}
	}
	return "", Errorf(EINVALID, "unknown asset kind %q", s)
}

// Plural is the kind's collection name, used in API paths and storage paths.
func (k AssetKind) Plural() string {
	if k == AssetData {
		return "data"
	}
	return string(k) + "s"
}

// JournalKind is the replication unit the kind's changes belong to.
func (k AssetKind) JournalKind() Kind {
	switch k {
	case AssetModel:
		return KindModels
	case AssetEnvironment:
		return KindEnvironments
	case AssetData:
		return KindData
	case AssetDatastore:
		return KindDatastores
	case AssetComponent:
		return KindComponents
	default:
		return KindPipelines
	}
}

// Versioned reports whether assets of this kind have immutable numbered
// versions. Datastores have one definition per name that create replaces.
func (k AssetKind) Versioned() bool { return k != AssetDatastore }

// Asset is one version of a workspace asset. Spec holds the kind's
// definition (*Environment, *Data, ...); Files lists the artifact bytes the
// version owns, stored under StoragePrefix. A version never changes after
// it is created except Description, Tags and Archived.
type Asset struct {
	Kind        AssetKind         `json:"kind"`
	Name        string            `json:"name"`
	Version     string            `json:"version,omitempty"`
	Description string            `json:"description,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Archived    bool              `json:"archived"`
	CreatedMS   int64             `json:"created_ms"`
	UpdatedMS   int64             `json:"updated_ms"`
	Spec        Spec              `json:"-"`
	Files       []AssetFile       `json:"files,omitempty"`
}

// AssetFile is one file of an asset version: its path relative to the
// asset's YAML folder, and its size and SHA-256.
type AssetFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Spec is the kind-specific part of an asset. Validate checks it in
// isolation (no lookups) and returns an EINVALID *Error.
type Spec interface {
	AssetKind() AssetKind
	Validate() error
	// LocalPaths are the spec's references to local files or folders,
	// relative to the YAML file: their contents are uploaded with the asset.
	LocalPaths() []string
}

// NewSpec returns an empty spec of kind k.
func NewSpec(k AssetKind) Spec {
	switch k {
	case AssetModel:
		return &Model{}
	case AssetEnvironment:
		return &Environment{}
	case AssetData:
		return &Data{}
	case AssetDatastore:
		return &Datastore{}
	case AssetComponent:
		return &Component{}
	case AssetPipeline:
		return &Pipeline{}
	}
	return nil
}

// StoragePrefix is where the asset's files live in artifact storage, a path
// ordinary storage tools can browse: assets/<kind>s/<name>/<version>/.
func (a *Asset) StoragePrefix() string {
	return "assets/" + a.Kind.Plural() + "/" + a.Name + "/" + a.Version + "/"
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$`)
var versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidateName checks an asset name: letters, digits, "_", "-", "." and at
// most 255 characters, starting with a letter or digit.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return Errorf(EINVALID, "invalid name %q: use letters, digits, '_', '-' and '.', starting with a letter or digit (at most 255)", name)
	}
	return nil
}

// ValidateVersion checks an explicit version string. "latest" is reserved:
// it names the newest version on reads.
func ValidateVersion(v string) error {
	if v == "latest" || !versionRE.MatchString(v) {
		return Errorf(EINVALID, "invalid version %q: use letters, digits, '_', '-' and '.' (\"latest\" is reserved)", v)
	}
	return nil
}

// Validate checks the whole asset as submitted for creation.
func (a *Asset) Validate() error {
	if a.Spec == nil || a.Spec.AssetKind() != a.Kind {
		return Errorf(EINVALID, "asset of kind %q has no %s definition", a.Kind, a.Kind)
	}
	if err := ValidateName(a.Name); err != nil {
		return err
	}
	if a.Version != "" {
		if err := ValidateVersion(a.Version); err != nil {
			return err
		}
	}
	if len(a.Description) > 5000 {
		return Errorf(EINVALID, "description is longer than 5000 characters")
	}
	if err := ValidateTags(a.Tags); err != nil {
		return err
	}
	if err := CheckText("description", a.Description); err != nil {
		return err
	}
	for k, v := range a.Tags {
		if err := CheckText("tags", k+v); err != nil {
			return err
		}
	}
	for _, f := range a.Files {
		if err := ValidateRelPath(f.Path); err != nil {
			return err
		}
	}
	return a.Spec.Validate()
}

// ValidateTags checks tag keys and values.
func ValidateTags(tags map[string]string) error {
	if len(tags) > 100 {
		return Errorf(EINVALID, "at most 100 tags")
	}
	for k, v := range tags {
		if k == "" || len(k) > 250 {
			return Errorf(EINVALID, "tag key %q must have 1 to 250 characters", k)
		}
		if len(v) > 5000 {
			return Errorf(EINVALID, "tag %q: value longer than 5000 characters", k)
		}
	}
	return nil
}

// ValidateRelPath checks a file path relative to an asset's folder: not
// absolute, no "..", no empty segments, forward slashes.
func ValidateRelPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || path.Clean(p) != p ||
		p == "." || p == ".." || strings.HasPrefix(p, "../") || strings.ContainsRune(p, 0) {
		return Errorf(EINVALID, "invalid file path %q: must be a clean relative path inside the asset's folder", p)
	}
	return nil
}

// IsLocalPath reports whether a path reference in a YAML file names a local
// file (to upload) rather than a URL or a registered asset.
func IsLocalPath(p string) bool {
	if p == "" {
		return false
	}
	if i := strings.Index(p, ":"); i > 0 && !strings.ContainsAny(p[:i], `/\.`) {
		return false // scheme: azureml:, tandem://, s3://, https://, file:...
	}
	return true
}

// CleanLocalPath turns a local path reference ("./src", "conda.yaml") into
// the clean relative path files are stored under.
func CleanLocalPath(p string) (string, error) {
	c := path.Clean(strings.TrimPrefix(p, "file:"))
	if err := ValidateRelPath(c); err != nil {
		return "", Errorf(EINVALID, "local path %q must be inside the YAML file's folder", p)
	}
	return c, nil
}

// NextVersion returns the version after the highest integer version in
// existing ("1" when there is none).
func NextVersion(existing []string) string {
	max := int64(0)
	for _, v := range existing {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > max {
			max = n
		}
	}
	return strconv.FormatInt(max+1, 10)
}

// SortedKeys returns m's keys in order (canonical output).
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func requireField(kind AssetKind, field, v string) error {
	if strings.TrimSpace(v) == "" {
		return Errorf(EINVALID, "%s: %s is required", kind, field)
	}
	return nil
}

func checkLocal(field, p string) error {
	if IsLocalPath(p) {
		if _, err := CleanLocalPath(p); err != nil {
			return Errorf(EINVALID, "%s: %s", field, ErrorMessage(err))
		}
	}
	return nil
}

// MarshalJSON writes the asset with its spec under "spec".
func (a Asset) MarshalJSON() ([]byte, error) {
	type plain Asset
	return json.Marshal(struct {
		plain
		Spec Spec `json:"spec"`
	}{plain(a), a.Spec})
}

// UnmarshalJSON reads an asset and decodes "spec" into the kind's type,
// rejecting unknown fields.
func (a *Asset) UnmarshalJSON(b []byte) error {
	type plain Asset
	var raw struct {
		plain
		Spec json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*a = Asset(raw.plain)
	spec := NewSpec(a.Kind)
	if spec == nil {
		return Errorf(EINVALID, "unknown asset kind %q", a.Kind)
	}
	if len(raw.Spec) > 0 && string(raw.Spec) != "null" {
		dec := json.NewDecoder(bytes.NewReader(raw.Spec))
		dec.DisallowUnknownFields()
		if err := dec.Decode(spec); err != nil {
			return Errorf(EINVALID, "%s spec: %v", a.Kind, err)
		}
	}
	a.Spec = spec
	return nil
}

// String is the kind's name.
func (k AssetKind) String() string { return string(k) }
