package sqlstore

// registerAll registers the applier of every mutation op. Each area of the
// schema registers its own ops in its own file.
func (s *Store) registerAll() {
	s.registerTracking()    // tracking.go: experiments, runs, metrics, params, tags, inputs
	s.registerRegistry()    // registry.go: registered models, versions, logged models
	s.registerArtifacts()   // artifacts.go: artifact records (size, sha256)
	s.registerAssets()      // assets.go: environments, data, datastores, components, pipelines
	s.registerTransfer()    // transfer.go: whole-object imports from bundles
	s.registerReplication() // replication.go: skip placeholder, test-only ops
	s.registerFailover()    // failover.go: change-of-primary records
	s.registerVault()       // vault.go: key vault secrets, the workspace key check
	s.registerIdentity()    // identity.go: principals, tokens, roles, role assignments
	s.registerDesired()     // desired.go: the last applied desired state (tandem apply)
	s.registerTraces()      // traces.go: MLflow 3 traces, spans, assessments
	s.registerJobs()        // jobs.go: jobs and their attempts
	s.registerEndpoints()   // endpoints.go: online endpoints and deployments
	s.registerDrills()      // drills.go: recorded drill reports

	s.registerEvalDatasets() // evaldatasets.go: MLflow 3 evaluation datasets and records
	s.registerScorers()      // scorers.go: MLflow 3 registered scorers
	s.registerIssues()       // issues.go: MLflow 3 issues
	s.registerAIGateway()    // aigateway.go: MLflow 3 AI gateway configuration
	s.registerJobSettings()  // jobs.go: the workspace-wide job settings apply writes
	s.registerWebhooks()     // webhooks.go: MLflow 3 model-registry webhooks
}
