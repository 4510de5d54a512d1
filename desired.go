package tandem

// ActionDesiredApply records the desired state an apply completed (tandem
// apply); the changes themselves need their own kinds' actions.
const ActionDesiredApply = "Microsoft.MachineLearningServices/workspaces/desiredState/write"
