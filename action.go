package tandem

// Actions are what role definitions allow or deny, named the way Azure
// RBAC names Azure Machine Learning's operations. Every route of the MLflow
// and tandem APIs maps to exactly one (see package auth's route table).
const (
	ActionExperimentsRead   = "Microsoft.MachineLearningServices/workspaces/experiments/read"
	ActionExperimentsWrite  = "Microsoft.MachineLearningServices/workspaces/experiments/write"
	ActionExperimentsDelete = "Microsoft.MachineLearningServices/workspaces/experiments/delete"
	ActionRunsRead          = "Microsoft.MachineLearningServices/workspaces/experiments/runs/read"
	ActionRunsWrite         = "Microsoft.MachineLearningServices/workspaces/experiments/runs/write"
	ActionRunsDelete        = "Microsoft.MachineLearningServices/workspaces/experiments/runs/delete"
	ActionModelsRead        = "Microsoft.MachineLearningServices/workspaces/models/read"
	ActionModelsWrite       = "Microsoft.MachineLearningServices/workspaces/models/write"
	ActionModelsDelete      = "Microsoft.MachineLearningServices/workspaces/models/delete"
	ActionJobsRead          = "Microsoft.MachineLearningServices/workspaces/jobs/read"
	ActionJobsWrite         = "Microsoft.MachineLearningServices/workspaces/jobs/write" // create, cancel, archive
	ActionComputeRead       = "Microsoft.MachineLearningServices/workspaces/computes/read"
	ActionComputeWrite      = "Microsoft.MachineLearningServices/workspaces/computes/write"
	ActionComputeDelete     = "Microsoft.MachineLearningServices/workspaces/computes/delete"
	ActionStatusRead        = "Microsoft.MachineLearningServices/workspaces/status/read" // region status, checksum, history, /metrics
	ActionExport            = "Microsoft.MachineLearningServices/workspaces/export/action"
	ActionImport            = "Microsoft.MachineLearningServices/workspaces/import/action"
	// ActionWorkspaceWrite is managing the workspace itself (Owner and
	// Contributor; not AzureML Data Scientist): reading divergence reports
	// with their entries, replaying them, recording drill reports.
	ActionWorkspaceWrite = "Microsoft.MachineLearningServices/workspaces/write"

	ActionPrincipalsRead    = "Microsoft.Authorization/principals/read"
	ActionPrincipalsWrite   = "Microsoft.Authorization/principals/write"
	ActionPrincipalsDelete  = "Microsoft.Authorization/principals/delete"
	ActionRoleDefsRead      = "Microsoft.Authorization/roleDefinitions/read"
	ActionRoleDefsWrite     = "Microsoft.Authorization/roleDefinitions/write"
	ActionRoleDefsDelete    = "Microsoft.Authorization/roleDefinitions/delete"
	ActionAssignmentsRead   = "Microsoft.Authorization/roleAssignments/read"
	ActionAssignmentsWrite  = "Microsoft.Authorization/roleAssignments/write"
	ActionAssignmentsDelete = "Microsoft.Authorization/roleAssignments/delete"
	ActionAuditRead         = "Microsoft.Authorization/audit/read"
	// The workspace key vault: Azure keeps secrets in a Key Vault with
	// its own actions, so the AzureML Data Scientist role (workspace
	// actions only) neither reads nor sets them.
	ActionSecretsRead   = "Microsoft.KeyVault/vaults/secrets/read" // metadata: values are never returned
	ActionSecretsWrite  = "Microsoft.KeyVault/vaults/secrets/write"
	ActionSecretsDelete = "Microsoft.KeyVault/vaults/secrets/delete"
	// ActionDatastoreCheck opens a datastore's credentials server-side.
	ActionDatastoreCheck = "Microsoft.MachineLearningServices/workspaces/datastores/check/action"
)

// AssetAction is the action on a tandem asset kind ("environments",
// "data", ...) with verb "read", "write" or "delete".
func AssetAction(k AssetKind, verb string) string {
	return "Microsoft.MachineLearningServices/workspaces/" + k.Plural() + "/" + verb
}

// Built-in role names, as Azure Machine Learning names them.
const (
	RoleOwner           = "Owner"
	RoleContributor     = "Contributor"
	RoleReader          = "Reader"
	RoleDataScientist   = "AzureML Data Scientist"
	RoleComputeOperator = "AzureML Compute Operator"
)

// BuiltInRoles returns the built-in role definitions, with the meaning
// Azure gives them:
//   - Owner: everything, including granting access.
//   - Contributor: everything except granting access (Microsoft.Authorization
//     writes and deletes).
//   - Reader: every read, nothing else.
//   - AzureML Data Scientist: every action inside the workspace (experiments,
//     runs, models, assets), but not managing the workspace itself, its
//     computes, its secrets or access.
//   - AzureML Compute Operator: computes only, plus reading the workspace.
func BuiltInRoles() []*RoleDefinition {
	return []*RoleDefinition{
		{Name: RoleOwner, Description: "Full access, including granting access to others.", Actions: []string{"*"}, BuiltIn: true},
		{Name: RoleContributor, Description: "Full access, but cannot grant access to others.", Actions: []string{"*"},
			NotActions: []string{"Microsoft.Authorization/*/write", "Microsoft.Authorization/*/delete", "Microsoft.Authorization/elevateAccess/action"}, BuiltIn: true},
		{Name: RoleReader, Description: "View everything, change nothing.", Actions: []string{"*/read"}, BuiltIn: true},
		{Name: RoleDataScientist, Description: "Every action within the workspace except managing the workspace, its computes and access.",
			Actions: []string{
				"Microsoft.MachineLearningServices/workspaces/*/read",
				"Microsoft.MachineLearningServices/workspaces/*/action",
				"Microsoft.MachineLearningServices/workspaces/*/delete",
				"Microsoft.MachineLearningServices/workspaces/*/write",
			},
			NotActions: []string{
				"Microsoft.MachineLearningServices/workspaces/delete",
				"Microsoft.MachineLearningServices/workspaces/write",
				"Microsoft.MachineLearningServices/workspaces/computes/write",
				"Microsoft.MachineLearningServices/workspaces/computes/delete",
				"Microsoft.MachineLearningServices/workspaces/computes/*/write",
				"Microsoft.MachineLearningServices/workspaces/computes/*/delete",
				"Microsoft.MachineLearningServices/workspaces/computes/listKeys/action",
				"Microsoft.MachineLearningServices/workspaces/listKeys/action",
			}, BuiltIn: true},
		{Name: RoleComputeOperator, Description: "Create, change and delete computes; read the workspace.",
			Actions: []string{
				"Microsoft.MachineLearningServices/workspaces/computes/*",
				"Microsoft.MachineLearningServices/workspaces/read",
			}, BuiltIn: true},
	}
}
