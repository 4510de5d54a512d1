package tandem

import "strings"

// Environment is the definition of a runtime environment: either an image
// reference (its digest recorded when the reference pins one) or a build
// context (a folder with a Dockerfile, stored as artifacts), plus an
// optional conda file or pip requirements and the inference routes a
// serving container answers on.
type Environment struct {
	Image           string           `json:"image,omitempty"`
	ImageDigest     string           `json:"image_digest,omitempty"`
	Build           *BuildContext    `json:"build,omitempty"`
	CondaFile       string           `json:"conda_file,omitempty"`
	PipRequirements string           `json:"pip_requirements,omitempty"`
	OSType          string           `json:"os_type,omitempty"`
	InferenceConfig *InferenceConfig `json:"inference_config,omitempty"`
}

// BuildContext is a docker build folder; Path is relative to the YAML file.
type BuildContext struct {
	Path           string `json:"path"`
	DockerfilePath string `json:"dockerfile_path,omitempty"`
}

// InferenceConfig names the HTTP routes of a serving container.
type InferenceConfig struct {
	LivenessRoute  *Route `json:"liveness_route,omitempty"`
	ReadinessRoute *Route `json:"readiness_route,omitempty"`
	ScoringRoute   *Route `json:"scoring_route,omitempty"`
}

// Route is one HTTP route of a serving container.
type Route struct {
	Path string `json:"path"`
	Port int    `json:"port"`
}

func (*Environment) AssetKind() AssetKind { return AssetEnvironment }

// Validate requires exactly one of image and build, and well-formed routes.
// It fills ImageDigest from an image reference pinned by digest.
func (e *Environment) Validate() error {
	switch {
	case e.Image == "" && e.Build == nil:
		return Errorf(EINVALID, "environment: one of image or build is required")
	case e.Image != "" && e.Build != nil:
		return Errorf(EINVALID, "environment: image and build cannot both be set")
	}
	if e.Image != "" {
		if strings.ContainsAny(e.Image, " \t\n") {
			return Errorf(EINVALID, "environment: image %q contains spaces", e.Image)
		}
		if i := strings.Index(e.Image, "@sha256:"); i >= 0 {
			d := e.Image[i+1:]
			if len(d) != len("sha256:")+64 || strings.Trim(d[7:], "0123456789abcdef") != "" {
				return Errorf(EINVALID, "environment: image digest %q is not sha256:<64 hex digits>", d)
			}
			if e.ImageDigest != "" && e.ImageDigest != d {
				return Errorf(EINVALID, "environment: image_digest %q differs from the image reference's %q", e.ImageDigest, d)
			}
			e.ImageDigest = d
		}
	}
	if e.Build != nil {
		if e.Build.Path == "" {
			return Errorf(EINVALID, "environment: build.path is required")
		}
		if err := checkLocal("environment: build.path", e.Build.Path); err != nil {
			return err
		}
		if e.Build.DockerfilePath != "" {
			if err := ValidateRelPath(e.Build.DockerfilePath); err != nil {
				return Errorf(EINVALID, "environment: build.dockerfile_path: %s", ErrorMessage(err))
			}
		}
	}
	for field, p := range map[string]string{"conda_file": e.CondaFile, "pip_requirements": e.PipRequirements} {
		if p != "" && !IsLocalPath(p) {
			return Errorf(EINVALID, "environment: %s must be a local file next to the YAML file, got %q", field, p)
		}
		if err := checkLocal("environment: "+field, p); err != nil {
			return err
		}
	}
	if e.CondaFile != "" && e.PipRequirements != "" {
		return Errorf(EINVALID, "environment: conda_file and pip_requirements cannot both be set")
	}
	switch e.OSType {
	case "", "linux", "windows":
	default:
		return Errorf(EINVALID, "environment: os_type must be linux or windows, got %q", e.OSType)
	}
	if ic := e.InferenceConfig; ic != nil {
		for name, r := range map[string]*Route{"liveness_route": ic.LivenessRoute, "readiness_route": ic.ReadinessRoute, "scoring_route": ic.ScoringRoute} {
			if r == nil {
				continue
			}
			if !strings.HasPrefix(r.Path, "/") {
				return Errorf(EINVALID, "environment: inference_config.%s.path must start with '/', got %q", name, r.Path)
			}
			if r.Port < 1 || r.Port > 65535 {
				return Errorf(EINVALID, "environment: inference_config.%s.port must be 1-65535, got %d", name, r.Port)
			}
		}
	}
	return nil
}

// LocalPaths are the build folder and the conda or pip file.
func (e *Environment) LocalPaths() []string {
	var out []string
	if e.Build != nil && IsLocalPath(e.Build.Path) {
		out = append(out, e.Build.Path)
	}
	for _, p := range []string{e.CondaFile, e.PipRequirements} {
		if p != "" && IsLocalPath(p) {
			out = append(out, p)
		}
	}
	return out
}

// Image states of an environment's image in one region's registry.
const (
	ImagePresent = "present" // the region's registry has the digest
	ImageCopying = "copying" // a copy is under way
	ImageMissing = "missing" // not there and not copied yet (replication off for environments, or not checked)
	ImageFailed  = "failed"  // the last copy failed; it is tried again on the next pass
)

// ImageStatus is one environment image in one region's registry, as the
// region's image sync reports it (GET /api/tandem/v1/images).
type ImageStatus struct {
	Environment string `json:"environment"`
	Version     string `json:"version"`
	Source      string `json:"source"`      // the environment's image: as written
	Digest      string `json:"digest"`      // recorded when the environment was created
	Destination string `json:"destination"` // the region's copy, repository@digest
	State       string `json:"state"`
	BytesDone   int64  `json:"bytes_done,omitempty"`
	BytesTotal  int64  `json:"bytes_total,omitempty"`
	From        string `json:"from,omitempty"`  // where the copy came from
	Error       string `json:"error,omitempty"` // why the last copy failed, per source tried
	UpdatedMS   int64  `json:"updated_ms"`
}

// ImagesReport is one region's image sync: its registry, whether it
// copies (not under the replication policy environments: none), and each
// image's state (GET /api/tandem/v1/images).
type ImagesReport struct {
	Region    string        `json:"region"`
	Registry  string        `json:"registry,omitempty"`
	Copies    bool          `json:"copies"`
	CheckedMS int64         `json:"checked_ms"` // 0: not checked yet
	Error     string        `json:"error,omitempty"`
	Images    []ImageStatus `json:"images"`
}
