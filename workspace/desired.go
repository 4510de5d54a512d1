package workspace

import (
	"github.com/tandemml/tandem/desired"
	"go.yaml.in/yaml/v3"
)

// desiredFile holds the sections that make workspace.yaml the whole desired
// state of the workspace (package desired reads them); secrets.names is in
// secretsFile.
type desiredFile struct {
	Compute         yaml.Node `yaml:"compute"`
	Datastores      yaml.Node `yaml:"datastores"`
	Roles           yaml.Node `yaml:"roles"`
	RoleAssignments yaml.Node `yaml:"role_assignments"`
	Endpoints       yaml.Node `yaml:"endpoints"`
	Assets          yaml.Node `yaml:"assets"`
}

// parseDesired reads the desired state (Workspace.Desired); its errors
// name file, line and column.
func parseDesired(w *Workspace, name string, f *file) error {
	in := desired.Input{File: name, Registries: map[string]string{}, Compute: f.Compute, Datastores: f.Datastores,
		Roles: f.Roles, RoleAssignments: f.RoleAssignments, Endpoints: f.Endpoints, Assets: f.Assets}
	for i, r := range w.Regions {
		in.Regions = append(in.Regions, r.Name)
		if reg := f.Regions[i].Registry; reg != "" {
			if err := checkURL("oci://"+reg, "oci"); err != nil {
				return invalid("regions["+r.Name+"].registry", "%v", err)
			}
			in.Registries[r.Name] = reg
			w.Regions[i].Registry = reg
		}
	}
	if f.Secrets != nil {
		in.Secrets = f.Secrets.Names
	}
	st, err := desired.Parse(in)
	if err != nil {
		return err
	}
	w.Desired = st
	return nil
}

// Dir is the path of the workspace file's folder, where the asset
// files the desired state names are read from (desired.State.LoadAssets).
func (w *Workspace) Dir() string { return w.dir }
