package tandem

import "context"

// The store interfaces: one per area of a region's metadata store, each
// stating what the packages above sqlstore need of that area. sqlstore
// implements all of them on one database handle (one *sqlstore.Store per
// region, wired in cmd/tandem and region); a consumer takes the interface
// of the area it uses, or a union of them, and its tests still run against
// a real store. Unless its comment says otherwise, a write method goes
// through the journal: it is primary-only, and where this region may not
// write now it fails with the Gate's EUNAVAILABLE.
//
// TrackingStore and RegistryStore hold only what code outside the MLflow
// API uses; mlflowapi, api, jobs, replication and transfer still take
// *sqlstore.Store itself, and their methods (and the areas of traces,
// assets, replication and transfer) join here as they are switched.

// VaultStore is the replicated store of the workspace key vault: secret
// versions with their values already encrypted, and the workspace key
// check. Implemented by sqlstore; used by keyvault, which encrypts and
// decrypts (nothing here sees a plaintext value).
type VaultStore interface {
	// SetSecret records a new version of sec.Name holding ciphertext.
	// EINVALID, EINVALIDSTATE when the name is soft-deleted.
	SetSecret(ctx context.Context, sec Secret, ciphertext string) (*Secret, error)
	// ListSecrets lists the newest version of each live secret, or of each
	// soft-deleted one when deleted is true.
	ListSecrets(ctx context.Context, deleted bool) ([]*Secret, error)
	// SecretVersions lists the versions of a live secret, newest first.
	// ENOTFOUND.
	SecretVersions(ctx context.Context, name string) ([]*Secret, error)
	// UpdateSecret enables or disables one version of a live secret.
	// ENOTFOUND.
	UpdateSecret(ctx context.Context, name, version string, enabled bool) (*Secret, error)
	// DeleteSecret soft-deletes (deleted true) or recovers every version of
	// name. ENOTFOUND when there is no secret in the state to change.
	DeleteSecret(ctx context.Context, name string, deleted bool) error
	// PurgeSecret removes a soft-deleted secret for good. ENOTFOUND.
	PurgeSecret(ctx context.Context, name string) error
	// SecretCiphertext returns the current version of name and its
	// ciphertext, for server-side resolution only. ENOTFOUND.
	SecretCiphertext(ctx context.Context, name string) (*Secret, string, error)
	// KeyCheck returns the workspace key check, or nil when none is stored.
	KeyCheck(ctx context.Context) (*KeyCheck, error)
	// SetKeyCheck stores k when no key check is stored, and returns the one
	// stored (an existing one unchanged).
	SetKeyCheck(ctx context.Context, k KeyCheck) (*KeyCheck, error)
	// Changed returns a channel closed at the next commit (a local write or
	// an applied journal entry): a secondary waits on it for the key check
	// to arrive.
	Changed() <-chan struct{}
}

// EndpointStore is the replicated store of online endpoints and their
// deployments (endpoint keys sealed by keyvault). Implemented by sqlstore;
// used by serving (its management API, reconciler and scoring key checks).
type EndpointStore interface {
	// ListEndpoints returns every endpoint, by name (never their keys).
	ListEndpoints(ctx context.Context) ([]*OnlineEndpoint, error)
	// GetEndpoint returns an endpoint (never its keys). ENOTFOUND.
	GetEndpoint(ctx context.Context, name string) (*OnlineEndpoint, error)
	// PutEndpoint creates or replaces an endpoint as mode allows (EEXISTS,
	// ENOTFOUND); newKeys are the sealed keys a new endpoint gets, an
	// existing one keeps its own. Its traffic must name existing
	// deployments (EINVALID). Returns the endpoint as stored.
	// checks run in the write's transaction, on the endpoints and
	// deployments before it and as it leaves them (a quota).
	PutEndpoint(ctx context.Context, ep OnlineEndpoint, newKeys string, mode PutMode, checks ...FleetCheck) (*OnlineEndpoint, error)
	// DeleteEndpoint deletes an endpoint and its deployments. ENOTFOUND.
	DeleteEndpoint(ctx context.Context, name string) error
	// EndpointKeysSealed returns an endpoint's sealed keys, for the code
	// that opens them (scoring checks, get-credentials). ENOTFOUND.
	EndpointKeysSealed(ctx context.Context, name string) (string, error)
	// ReplaceEndpointKeys stores newKeys if the keys are still oldKeys
	// (ECONFLICT otherwise: another regeneration won).
	ReplaceEndpointKeys(ctx context.Context, name, oldKeys, newKeys string) error
	// ListDeployments returns the deployments of endpoint ("": of every
	// endpoint), by endpoint and name. ENOTFOUND for an unknown endpoint.
	ListDeployments(ctx context.Context, endpoint string) ([]*OnlineDeployment, error)
	// GetDeployment returns one deployment. ENOTFOUND.
	GetDeployment(ctx context.Context, endpoint, name string) (*OnlineDeployment, error)
	// PutDeployment creates or replaces a deployment of an existing
	// endpoint as mode allows; its model reference is resolved to a version
	// now (EINVALID when there is none). Returns it as stored.
	// checks as for PutEndpoint.
	PutDeployment(ctx context.Context, d OnlineDeployment, mode PutMode, checks ...FleetCheck) (*OnlineDeployment, error)
	// DeleteDeployment deletes a deployment; one that still receives
	// traffic is ECONFLICT. ENOTFOUND.
	DeleteDeployment(ctx context.Context, endpoint, name string) error
}

// TrackingStore is the replicated store of experiments and runs, as far as
// code outside the MLflow API uses it. Implemented by sqlstore; used by
// serving (the request log's experiment and runs).
type TrackingStore interface {
	// GetExperimentByName returns the experiment of that name, deleted or
	// not. ENOTFOUND.
	GetExperimentByName(ctx context.Context, name string) (*Experiment, error)
	// CreateExperiment creates an experiment and returns its id; an empty
	// artifactLocation means mlflow-artifacts:/<id>. EEXISTS, EINVALID.
	CreateExperiment(ctx context.Context, name, artifactLocation string, tags []Tag) (string, error)
	// SearchRuns returns one page of matching runs and the next page token
	// ("" at the end). EINVALID for a bad filter, order or token.
	SearchRuns(ctx context.Context, in SearchRunsInput) ([]*Run, string, error)
	// CreateRunFull creates a run in an active experiment and returns it as
	// a read would. ENOTFOUND, EINVALID.
	CreateRunFull(ctx context.Context, in CreateRunInput) (*Run, error)
}

// RegistryStore is the replicated model registry, as far as code outside
// the MLflow API uses it. Implemented by sqlstore; used by serving (where a
// deployment's model files are).
type RegistryStore interface {
	// GetModelVersionDownloadURI is where a model version's files are: the
	// logged model's artifact location for a "models:/m-..." source, the
	// source otherwise. ENOTFOUND.
	GetModelVersionDownloadURI(ctx context.Context, name string, version int64) (string, error)
}

// ArtifactIndex is the replicated index of artifact files: one record per
// file whose bytes are already in the artifact store (blobstore), written
// after the bytes. Implemented by sqlstore; used by serving (model files
// and request logs).
type ArtifactIndex interface {
	// PutArtifact records a published file; its journal entry names the
	// bytes so replication ships them. EINVALID when a.Path is a directory
	// or lies under a file.
	PutArtifact(ctx context.Context, a Artifact) (Entry, error)
	// ArtifactsUnder returns the records of every file at or under p (""
	// is every file), sorted by path.
	ArtifactsUnder(ctx context.Context, p string) ([]Artifact, error)
}

// JournalStore is the region's journal as its readers see it. Implemented
// by sqlstore; used by leader (through FailoverStore).
type JournalStore interface {
	// Head returns the position of the last committed entry.
	Head(ctx context.Context) (Position, error)
	// ReadJournal returns up to limit entries after seq after, in order.
	ReadJournal(ctx context.Context, after int64, limit int) ([]Entry, error)
	// OnCommit registers fn to be called after every committed entry
	// (primary writes and applied entries alike), in commit order.
	OnCommit(fn func(Entry))
}

// FailoverStore is what running failover needs of a region's store: the
// journal, the write gate, the replicated record of changes of primary,
// and the region's own (not replicated) failover state and divergence
// reports. Implemented by sqlstore; used by leader.
type FailoverStore interface {
	JournalStore
	// SetGate replaces the write gate that every write transaction asks.
	SetGate(g Gate)
	// LockedHead reads the journal head under the journal lock: every
	// write that passed the gate before it closed has committed by then.
	LockedHead(ctx context.Context) (Position, error)
	// JournalPositions lists the positions of up to limit entries after
	// seq after, in order.
	JournalPositions(ctx context.Context, after int64, limit int) ([]Position, error)
	// RecordEpoch commits rec as the OpEpoch entry of its epoch.
	RecordEpoch(ctx context.Context, rec EpochRecord) (Entry, error)
	// Epochs lists the recorded changes of primary, oldest first.
	Epochs(ctx context.Context) ([]EpochRecord, error)
	// Replay commits an entry's op, key and payload again as a new entry.
	Replay(ctx context.Context, e Entry) (Entry, error)
	// FailoverState returns the region's own value of key and whether it
	// has one. Local, never journalled (as the two below).
	FailoverState(ctx context.Context, key string) (string, bool, error)
	// SetFailoverState stores every key and value of kv, replacing.
	SetFailoverState(ctx context.Context, kv map[string]string) error
	// AddFailoverState stores key = value unless key has a value.
	AddFailoverState(ctx context.Context, key, value string) error
	// KeepDivergence stores a divergence report and rewinds the region to
	// an empty journal (to bootstrap again), in one local transaction.
	KeepDivergence(ctx context.Context, id string, body []byte) error
	// DivergenceReports returns the stored reports' bodies, oldest first;
	// only the one of id when id is not "".
	DivergenceReports(ctx context.Context, id string) ([][]byte, error)
}
