package tandem

// Version is tandem's release version, reported by /version and `tandem
// version`. MLflowCompat is the MLflow version whose REST API tandem serves.
const (
	Version      = "0.1.0"
	MLflowCompat = "3.17.2"
)
