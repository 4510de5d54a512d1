package sqlstore

import "github.com/tandemml/tandem"

// RowKind says which kind owns a row of a replicated table, so a
// bootstrap snapshot can leave out the rows of kinds that do not leave
// their region (replication policy none). col reads one column of the row
// as text. Tables of one kind answer without reading it; the tables
// several kinds share (assets, the journal) read the column that names
// the row's kind. ok is false for a table no kind owns (a table a later
// migration adds must be named here: the replication tests check).
func RowKind(table string, col func(name string) string) (kind tandem.Kind, ok bool) {
	switch table {
	case "journal":
		return tandem.Kind(col("kind")), true
	case "assets":
		return tandem.AssetKind(col("kind")).JournalKind(), true
	case "experiments", "experiment_tags":
		return tandem.KindExperiments, true
	case "runs", "metrics", "latest_metrics", "params", "tags", "datasets", "inputs", "input_tags", "run_models":
		return tandem.KindRuns, true
	case "registered_models", "registered_model_tags", "registered_model_aliases", "model_versions", "model_version_tags",
		"logged_models", "logged_model_params", "logged_model_tags", "logged_model_metrics":
		return tandem.KindModels, true
	case "artifacts", "artifact_dirs":
		return tandem.KindArtifacts, true
	case "traces", "trace_spans", "trace_tags", "trace_metadata", "trace_assessments", "trace_runs", "trace_prompts":
		return tandem.KindTraces, true
	case "jobs":
		return tandem.KindJobs, true
	case "online_endpoints", "online_deployments":
		return tandem.KindEndpoints, true
	case "evaluation_datasets", "evaluation_dataset_records", "evaluation_dataset_tags", "evaluation_dataset_experiments":
		return tandem.KindEvalDatasets, true
	case "scorers", "scorer_versions":
		return tandem.KindScorers, true
	case "webhooks", "webhook_events":
		return tandem.KindWebhooks, true
	case "issues":
		return tandem.KindIssues, true
	case "gateway_secrets", "gateway_model_definitions", "gateway_endpoints", "gateway_bindings":
		return tandem.KindAIGateway, true
	case "identity_principals", "identity_roles", "identity_assignments", "identity_tokens", "vault_secrets", "vault_keycheck",
		"workspace_meta", "desired_applied", "drills", "epochs", "idempotency_keys":
		return tandem.KindWorkspace, true
	}
	return "", false
}
