package tandem

// Model is a model version's definition in the Azure ML YAML form: the
// model files (a local path uploaded with the version, or a URL such as
// runs:/ or tandem://datastores/...) and their type.
type Model struct {
	Type       string            `json:"type,omitempty"` // custom_model (default), mlflow_model, triton_model
	Path       string            `json:"path"`
	Stage      string            `json:"stage,omitempty"`
	Properties map[string]string `json:"properties,omitempty"`
}

func (*Model) AssetKind() AssetKind { return AssetModel }

// Validate checks the type and path.
func (m *Model) Validate() error {
	switch m.Type {
	case "", "custom_model", "mlflow_model", "triton_model":
	default:
		return Errorf(EINVALID, "model: type must be custom_model, mlflow_model or triton_model, got %q", m.Type)
	}
	if err := ValidateTags(m.Properties); err != nil {
		return Errorf(EINVALID, "model: properties: %s", ErrorMessage(err))
	}
	if err := requireField(AssetModel, "path", m.Path); err != nil {
		return err
	}
	return ValidateDataPath(m.Path)
}

// LocalPaths is the model path when it is local.
func (m *Model) LocalPaths() []string {
	if IsLocalPath(m.Path) {
		return []string{m.Path}
	}
	return nil
}
