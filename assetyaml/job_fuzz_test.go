package assetyaml_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assetyaml"
)

// FuzzLoadJob: LoadJob never panics, fails only with EINVALID, and a spec
// it returns passes Validate. The second argument is one --set.
func FuzzLoadJob(f *testing.F) {
	for _, file := range jobExamples {
		b, err := os.ReadFile(filepath.Join("testdata", "jobs", file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
		f.Add(b, "inputs.x=1")
	}
	f.Add([]byte("command: echo ${{inputs.a}}\ninputs:\n  a: 1\n"), "inputs.a.b=2")
	f.Add([]byte("type: pipeline\njobs:\n  a:\n    command: echo\n    environment: azureml:e:1\n"), "jobs.a.inputs.x=${{parent.jobs.a.outputs.y}}")
	f.Add([]byte("a: &x [*x]\n"), "a=1")
	f.Add([]byte("{}"), "command=x")
	f.Fuzz(func(t *testing.T, data []byte, set string) {
		var sets []string
		if set != "" {
			sets = []string{set}
		}
		spec, err := assetyaml.LoadJob("fuzz.yml", data, sets)
		if err != nil {
			if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("error code %s: %v", tandem.ErrorCode(err), err)
			}
			return
		}
		if err := spec.Validate(); err != nil {
			t.Fatalf("accepted a spec that does not validate: %v", err)
		}
	})
}
