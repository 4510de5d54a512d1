package jobs

import (
	"reflect"
	"testing"

	"github.com/tandemml/tandem"
)

func TestLaunchOutputsAndBinding(t *testing.T) {
	outs := map[string]*tandem.JobOutput{"model": {Type: "mlflow_model"}, "ckpt": {Type: "uri_folder", Checkpoint: true}}
	los, refs := launchOutputs(outs, 1)
	want := []tandem.LaunchOutput{{Name: "ckpt", Checkpoint: true}, {Name: "model"}}
	if !reflect.DeepEqual(los, want) {
		t.Fatalf("attempt 1: %+v", los)
	}
	if los, _ := launchOutputs(outs, 2); !los[0].Restore || los[1].Restore {
		t.Fatalf("attempt 2 restores the checkpoint only: %+v", los)
	}
	// On Ray: the output is the job's own folder, shell text the worker's
	// shell expands; inputs stay quoted words.
	values := map[string]string{"inputs.lr": "0.5", "inputs.data": "/host/in put"}
	got := bindCommand(`python t.py ${{inputs.lr}} ${{inputs.data}} --out ${{ outputs.model }} ${{outputs.ckpt}}`, values, refs)
	if w := `python t.py 0.5 '/host/in put' --out "$TANDEM_OUTPUTS"/model "$TANDEM_OUTPUTS"/ckpt`; got != w {
		t.Fatalf("on Ray:\n%s\nwant\n%s", got, w)
	}
	// On local compute: the host's folder, quoted.
	values["outputs.model"] = "/work/j/_/1/outputs/model"
	if got := bindCommand(`python t.py ${{outputs.model}}`, values, nil); got != `python t.py /work/j/_/1/outputs/model` {
		t.Fatalf("local: %s", got)
	}
	if offHost(&tandem.ComputeTarget{Type: tandem.ComputeLocal}) || !offHost(&tandem.ComputeTarget{Type: tandem.ComputeRay}) {
		t.Fatal("only Ray attempts upload their outputs themselves")
	}
}
