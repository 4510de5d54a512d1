package tandem

import (
	"net/url"
	"path"
	"strings"
)

// Datastore names storage that data assets point into. Credentials are
// write-only: they arrive with create, are stored encrypted, and are never
// returned (HasCredentials says whether some are stored). Shared marks
// storage that every region can reach (R3), so data on it is valid
// everywhere.
type Datastore struct {
	Type          string            `json:"type"` // local, s3, azure_blob, gcs
	Path          string            `json:"path,omitempty"`
	Bucket        string            `json:"bucket,omitempty"`
	Prefix        string            `json:"prefix,omitempty"`
	Endpoint      string            `json:"endpoint,omitempty"`
	Region        string            `json:"region,omitempty"`
	AccountName   string            `json:"account_name,omitempty"`
	ContainerName string            `json:"container_name,omitempty"`
	Protocol      string            `json:"protocol,omitempty"`
	Shared        bool              `json:"shared,omitempty"`
	Credentials   map[string]string `json:"credentials,omitempty"`
	// HasCredentials is set by the store on reads; ignored on input.
	HasCredentials bool `json:"has_credentials,omitempty"`
}

// Datastore types.
const (
	DatastoreLocal     = "local"
	DatastoreS3        = "s3"
	DatastoreAzureBlob = "azure_blob"
	DatastoreGCS       = "gcs"
)

// credentialKeys lists the credential fields each type accepts.
var credentialKeys = map[string][]string{
	DatastoreLocal:     nil,
	DatastoreS3:        {"access_key_id", "secret_access_key", "session_token"},
	DatastoreAzureBlob: {"account_key", "sas_token"},
	DatastoreGCS:       {"service_account_key"},
}

// CredentialKeys lists the credential fields a datastore type accepts.
func CredentialKeys(typ string) []string { return credentialKeys[typ] }

func (*Datastore) AssetKind() AssetKind { return AssetDatastore }

// Validate checks the fields each type needs and the credential keys.
func (d *Datastore) Validate() error {
	keys, ok := credentialKeys[d.Type]
	if !ok {
		return Errorf(EINVALID, "datastore: type must be local, s3, azure_blob or gcs, got %q", d.Type)
	}
	switch d.Type {
	case DatastoreLocal:
		if !strings.HasPrefix(d.Path, "/") {
			return Errorf(EINVALID, "datastore: a local datastore needs an absolute path, got %q", d.Path)
		}
	case DatastoreS3, DatastoreGCS:
		if err := requireField(AssetDatastore, "bucket", d.Bucket); err != nil {
			return err
		}
	case DatastoreAzureBlob:
		if err := requireField(AssetDatastore, "account_name", d.AccountName); err != nil {
			return err
		}
		if err := requireField(AssetDatastore, "container_name", d.ContainerName); err != nil {
			return err
		}
	}
	if d.Path != "" && d.Type != DatastoreLocal {
		return Errorf(EINVALID, "datastore: path is only for local datastores (use bucket/prefix)")
	}
	if d.Endpoint != "" {
		if d.Type == DatastoreS3 {
			if u, err := url.Parse(d.Endpoint); err != nil || u.Scheme == "" || u.Host == "" {
				return Errorf(EINVALID, "datastore: endpoint %q must be a URL", d.Endpoint)
			}
		}
	}
	for k, v := range d.Credentials {
		found := false
		for _, want := range keys {
			found = found || k == want
		}
		if !found {
			return Errorf(EINVALID, "datastore: credential %q is not one of %s for type %s", k, strings.Join(keys, ", "), d.Type)
		}
		if v == "" {
			return Errorf(EINVALID, "datastore: credential %q is empty", k)
		}
		if _, _, err := ParseSecretRef(v); err != nil { // ${{secrets.NAME}}: a key vault secret
			return Errorf(EINVALID, "datastore: credential %q: %s", k, ErrorMessage(err))
		}
	}
	return nil
}

// LocalPaths: datastores upload nothing.
func (*Datastore) LocalPaths() []string { return nil }

// Resolve returns the storage URL of rel inside the datastore, for a data
// path tandem://datastores/NAME/paths/REL. It never includes credentials.
func (d *Datastore) Resolve(rel string) string {
	join := func(parts ...string) string {
		var keep []string
		for _, p := range parts {
			if p = strings.Trim(p, "/"); p != "" {
				keep = append(keep, p)
			}
		}
		return strings.Join(keep, "/")
	}
	switch d.Type {
	case DatastoreLocal:
		return "file://" + path.Join(d.Path, rel)
	case DatastoreS3:
		return "s3://" + join(d.Bucket, d.Prefix, rel)
	case DatastoreGCS:
		return "gs://" + join(d.Bucket, d.Prefix, rel)
	default:
		proto := d.Protocol
		if proto == "" {
			proto = "https"
		}
		ep := d.Endpoint
		if ep == "" {
			ep = "core.windows.net"
		}
		return proto + "://" + d.AccountName + ".blob." + ep + "/" + join(d.ContainerName, d.Prefix, rel)
	}
}

// SameTarget reports whether d and o point at the same storage: same type,
// endpoint, bucket, region, account, container and protocol (a prefix or a
// path inside it may differ). Stored credentials are kept across a
// re-definition only when it does: they must never be sent to a place the
// owner did not give them for.
func (d *Datastore) SameTarget(o *Datastore) bool {
	return d.Type == o.Type && d.Endpoint == o.Endpoint && d.Bucket == o.Bucket && d.Region == o.Region &&
		d.AccountName == o.AccountName && d.ContainerName == o.ContainerName && d.Protocol == o.Protocol
}
