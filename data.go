package tandem

import (
	"net/url"
	"strings"
)

// Data is a data asset: a file, a folder or an MLTable folder, either
// uploaded with the asset (a local path) or named by a URL, typically
// tandem://datastores/NAME/paths/... on a datastore every region reaches.
type Data struct {
	Type string `json:"type"`
	Path string `json:"path"`
}

// Data asset types.
const (
	DataURIFile   = "uri_file"
	DataURIFolder = "uri_folder"
	DataMLTable   = "mltable"
)

func (*Data) AssetKind() AssetKind { return AssetData }

// Validate checks the type and the path (a local path inside the YAML
// folder, a tandem://datastores/ reference, or an absolute URL).
func (d *Data) Validate() error {
	switch d.Type {
	case DataURIFile, DataURIFolder, DataMLTable:
	case "":
		return Errorf(EINVALID, "data: type is required (uri_file, uri_folder or mltable)")
	default:
		return Errorf(EINVALID, "data: type must be uri_file, uri_folder or mltable, got %q", d.Type)
	}
	if err := requireField(AssetData, "path", d.Path); err != nil {
		return err
	}
	return ValidateDataPath(d.Path)
}

// ValidateDataPath checks a data path reference.
func ValidateDataPath(p string) error {
	if IsLocalPath(p) {
		return checkLocal("data: path", p)
	}
	if strings.HasPrefix(p, "tandem:") {
		_, _, err := ParseDatastorePath(p)
		return err
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme == "" {
		return Errorf(EINVALID, "data: path %q is neither a local path nor a URL", p)
	}
	return nil
}

// ParseDatastorePath splits tandem://datastores/NAME/paths/REL into the
// datastore name and the relative path (which may be empty).
func ParseDatastorePath(p string) (store, rel string, err error) {
	rest, ok := strings.CutPrefix(p, "tandem://datastores/")
	if !ok {
		return "", "", Errorf(EINVALID, "datastore path %q must start with tandem://datastores/", p)
	}
	name, rel, ok := strings.Cut(rest, "/paths")
	if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) {
		return "", "", Errorf(EINVALID, "datastore path %q must look like tandem://datastores/NAME/paths/PATH", p)
	}
	if err := ValidateName(name); err != nil {
		return "", "", Errorf(EINVALID, "datastore path %q: %s", p, ErrorMessage(err))
	}
	rel = strings.TrimPrefix(rel, "/")
	if rel != "" {
		if err := ValidateRelPath(strings.TrimSuffix(rel, "/")); err != nil {
			return "", "", Errorf(EINVALID, "datastore path %q: %s", p, ErrorMessage(err))
		}
	}
	return name, rel, nil
}

// LocalPaths is the data path when it is local.
func (d *Data) LocalPaths() []string {
	if IsLocalPath(d.Path) {
		return []string{d.Path}
	}
	return nil
}
