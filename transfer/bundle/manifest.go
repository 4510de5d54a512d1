package bundle

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tandemml/tandem"
)

// Format is the value of the manifest's "format" field.
const Format = "tandem-bundle"

// FormatVersion is the bundle format version this build writes and the
// newest it reads.
const FormatVersion = 1

// Limits on what a reader accepts, so that a hostile bundle cannot exhaust
// memory: the manifest and each object record are read whole; blobs stream.
const (
	MaxManifestSize = 256 << 20
	MaxObjectSize   = 512 << 20
	MaxPathLen      = 4096
)

// Kind is the kind of one item of a bundle.
type Kind string

// The item kinds, in the order a writer should add them so that everything
// an object refers to comes before it.
const (
	KindExperiment      Kind = "experiment"
	KindBlob            Kind = "blob" // artifact bytes; Owner says whose
	KindRun             Kind = "run"
	KindLoggedModel     Kind = "logged_model"
	KindRegisteredModel Kind = "registered_model"
	KindModelVersion    Kind = "model_version"
	KindAsset           Kind = "asset"
)

var knownKinds = map[Kind]bool{KindExperiment: true, KindBlob: true, KindRun: true, KindLoggedModel: true,
	KindRegisteredModel: true, KindModelVersion: true, KindAsset: true, KindTrace: true,
	KindEvaluationDataset: true, KindScorer: true, KindIssue: true, KindWebhook: true}

// Manifest is the first thing in a bundle: who wrote it, from where, and
// every item that follows with its digest.
type Manifest struct {
	Format    string           `json:"format"`
	Version   int              `json:"version"`
	Workspace string           `json:"workspace,omitempty"`
	Region    string           `json:"region,omitempty"`
	Source    string           `json:"source,omitempty"` // "tandem" or "mlflow"; never a URL with credentials
	Position  *tandem.Position `json:"journal_position,omitempty"`
	Created   time.Time        `json:"created"`
	Items     []Item           `json:"items"`
}

// Item is one object record or blob of a bundle.
type Item struct {
	Kind Kind `json:"kind"`
	// ID identifies the object within its kind: experiment id, run id, model
	// id, registered model name, "name/version", "asset_kind/name/version".
	// For a blob it is the artifact path relative to its owner's root.
	ID string `json:"id"`
	// Owner is set for blobs only: "run/<run_id>", "logged_model/<model_id>"
	// or "asset/<asset id>".
	Owner  string `json:"owner,omitempty"`
	Path   string `json:"path"` // location inside the bundle, "/"-separated
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Counts returns how many items of each kind the manifest lists.
func (m *Manifest) Counts() map[Kind]int {
	c := map[Kind]int{}
	for _, it := range m.Items {
		c[it.Kind]++
	}
	return c
}

func invalid(format string, args ...any) error {
	return tandem.Errorf(tandem.EINVALID, "bundle: "+format, args...)
}

// ParseManifest decodes and checks a manifest: known format and version,
// every item of a known kind with a safe, unique path under the folder of
// its kind, a well-formed digest, a size within limits, a unique id, and
// every blob owned by an object of the bundle. It returns an EINVALID error
// that says what is wrong.
func ParseManifest(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestSize {
		return nil, invalid("manifest is larger than %d bytes", MaxManifestSize)
	}
	if !utf8.Valid(b) {
		return nil, invalid("manifest is not valid UTF-8")
	}
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, invalid("manifest is not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, invalid("manifest has trailing data")
	}
	if m.Format != Format {
		return nil, invalid("not a tandem bundle (format %q, want %q)", m.Format, Format)
	}
	if m.Version < 1 {
		return nil, invalid("manifest has no valid format version")
	}
	if m.Version > FormatVersion {
		return nil, invalid("format version %d was written by a newer tandem; this one reads up to %d", m.Version, FormatVersion)
	}
	paths := make(map[string]bool, len(m.Items))
	ids := make(map[string]bool, len(m.Items))
	for i, it := range m.Items {
		if err := checkItem(it); err != nil {
			return nil, invalid("manifest item %d (%s %q): %v", i, it.Kind, it.ID, err)
		}
		if paths[it.Path] {
			return nil, invalid("manifest item %d: path %q listed twice", i, it.Path)
		}
		paths[it.Path] = true
		key := string(it.Kind) + "\x00" + it.Owner + "\x00" + it.ID
		if ids[key] {
			return nil, invalid("manifest item %d: %s %q listed twice", i, it.Kind, it.ID)
		}
		ids[key] = true
	}
	for i, it := range m.Items {
		if it.Kind != KindBlob {
			continue
		}
		kind, id, _ := strings.Cut(it.Owner, "/")
		if !ids[kind+"\x00\x00"+id] {
			return nil, invalid("manifest item %d: blob %q belongs to %s, which the bundle does not hold", i, it.ID, it.Owner)
		}
	}
	return &m, nil
}

func checkItem(it Item) error {
	if !knownKinds[it.Kind] {
		return fmt.Errorf("unknown kind %q", it.Kind)
	}
	if it.ID == "" || len(it.ID) > MaxPathLen || !utf8.ValidString(it.ID) {
		return fmt.Errorf("empty, too long or non-UTF-8 id")
	}
	if err := CheckPath(it.Path); err != nil {
		return err
	}
	if len(it.SHA256) != 64 || strings.Trim(it.SHA256, "0123456789abcdef") != "" {
		return fmt.Errorf("sha256 %q is not 64 lowercase hex digits", it.SHA256)
	}
	if it.Size < 0 {
		return fmt.Errorf("negative size")
	}
	if it.Kind == KindBlob {
		kind, id, ok := strings.Cut(it.Owner, "/")
		if !ok || !(SafeID(id) && (Kind(kind) == KindRun || Kind(kind) == KindLoggedModel) || Kind(kind) == KindAsset && safeAssetID(id)) {
			return fmt.Errorf("blob owner %q is not run/<id>, logged_model/<id> or asset/<kind>/<name>[/<version>]", it.Owner)
		}
		if err := CheckPath(it.ID); err != nil {
			return fmt.Errorf("artifact path: %v", err)
		}
		if !strings.HasPrefix(it.Path, "blobs/") {
			return fmt.Errorf("blob path %q is not under blobs/", it.Path)
		}
		return nil
	}
	if it.Owner != "" {
		return fmt.Errorf("only blobs have an owner")
	}
	if it.Kind == KindAsset && !safeAssetID(it.ID) {
		return fmt.Errorf("asset id %q is not <kind>/<name>[/<version>] of letters, digits, '.', '_' and '-'", it.ID)
	}
	if (it.Kind == KindExperiment || it.Kind == KindRun || it.Kind == KindLoggedModel || it.Kind == KindTrace) && !SafeID(it.ID) {
		return fmt.Errorf("id %q: ids of experiments, runs and logged models are letters, digits, '.', '_' and '-'", it.ID)
	}
	if it.Size > MaxObjectSize {
		return fmt.Errorf("object record of %d bytes is over the %d limit", it.Size, MaxObjectSize)
	}
	if !strings.HasPrefix(it.Path, "objects/"+string(it.Kind)+"/") {
		return fmt.Errorf("path %q is not under objects/%s/", it.Path, it.Kind)
	}
	return nil
}

// SafeID reports whether id can name an experiment, run or logged model:
// it becomes a segment of artifact storage paths, so it is 1 to 256
// letters, digits, '.', '_' or '-', and not "." or "..".
func SafeID(id string) bool {
	if id == "" || len(id) > 256 || id == "." || id == ".." {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// safeAssetID accepts "<kind>/<name>" and "<kind>/<name>/<version>" whose
// parts are safe ids, so an asset id can name a storage folder.
func safeAssetID(id string) bool {
	parts := strings.Split(id, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return false
	}
	for _, p := range parts {
		if !SafeID(p) {
			return false
		}
	}
	return true
}

// CheckPath accepts a relative "/"-separated path with no empty, "." or ".."
// segment, no backslash, no control character and valid UTF-8: a path that
// cannot escape the folder it is joined to.
func CheckPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty path")
	case len(p) > MaxPathLen:
		return fmt.Errorf("path longer than %d bytes", MaxPathLen)
	case !utf8.ValidString(p):
		return fmt.Errorf("path is not valid UTF-8")
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is absolute", p)
	case strings.Contains(p, "\\"):
		return fmt.Errorf("path %q has a backslash", p)
	case len(p) >= 2 && p[1] == ':':
		return fmt.Errorf("path %q has a drive letter", p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("path %q has a control character", p)
		}
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("path %q has an empty, '.' or '..' segment", p)
		}
	}
	return nil
}

// objectFileName turns an id into one safe file name: escaped, and replaced
// by a digest-free counter-free form when too long for a file system.
func objectFileName(id string) string {
	name := url.PathEscape(id)
	name = strings.ReplaceAll(name, "..", "%2E%2E")
	if name == "." {
		name = "%2E"
	}
	if len(name) > 180 {
		name = name[:120] + "~" + shortHash(id)
	}
	return name + ".json"
}
