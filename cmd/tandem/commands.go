package main

import "github.com/spf13/cobra"

// addCommands adds the CLI verbs that talk to a running workspace. Each area
// adds its verbs in its own file.
func addCommands(root *cobra.Command) {
	root.AddCommand(newWitnessCmd(), newGatewayCmd())
	addAssetCommands(root)                                                                // assets.go: attach, config, model, environment, data, datastore, component, pipeline
	addSecretCommands(root)                                                               // secret.go: secret (key vault), datastore check
	addTransferCommands(root)                                                             // transfer.go: export, import
	root.AddCommand(newStatusCmd(), newVerifyCmd())                                       // replication: status.go, verify.go
	root.AddCommand(newFailoverCmd(), newHistoryCmd(), newDivergenceCmd(), newDrillCmd()) // integration: failover.go, drill.go
	root.AddCommand(newTokenCmd())                                                        // identity.go: token print
	addIdentityCommands(root)                                                             // identity_verbs.go: user, sp, role, role assignment
	root.AddCommand(newPlanCmd(), newApplyCmd())                                          // plan.go: desired state
	addEndpointCommands(root)                                                             // endpoints.go: online-endpoint, online-deployment
	addJobCommands(root)                                                                  // jobs.go: job, compute
}
