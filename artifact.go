package tandem

// Artifact is the metadata record of one stored artifact file. Path is
// relative to the artifact root and is also the storage key of its bytes.
type Artifact struct {
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	CreatedMs int64  `json:"created_ms"`
}

// ArtifactEntry is one child of an artifact directory: a file (with its
// size) or a subdirectory.
type ArtifactEntry struct {
	Name  string
	IsDir bool
	Size  int64
}
