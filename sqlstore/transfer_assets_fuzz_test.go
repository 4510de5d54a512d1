package sqlstore

import (
	"encoding/json"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/transfer/bundle"
)

// FuzzAssetFromRecord: any bundle asset record either is refused with
// EINVALID or yields a valid asset whose files have safe paths and, for a
// datastore, no credentials.
func FuzzAssetFromRecord(f *testing.F) {
	f.Add(`{"asset_kind":"environment","name":"e","version":"1","files":[{"path":"conda.yaml","size":3,"sha256":"aa"}],"spec":{"image":"python:3.11","conda_file":"conda.yaml"}}`)
	f.Add(`{"asset_kind":"datastore","name":"lake","spec":{"type":"s3","bucket":"b"}}`)
	f.Add(`{"asset_kind":"datastore","name":"lake","spec":{"type":"s3","bucket":"b","credentials":{"k":"v"}}}`)
	f.Add(`{"asset_kind":"data","name":"raw","version":"2","spec":{"type":"uri_folder","path":"tandem://datastores/lake/paths/raw/"}}`)
	f.Add(`{"asset_kind":"model","name":"m","version":"1","spec":{}}`)
	f.Add(`{"asset_kind":"component","name":"c","version":"1","files":[{"path":"../x","size":1,"sha256":"aa"}],"spec":{"type":"command","environment":"azureml:e:1","command":"x"}}`)
	f.Fuzz(func(t *testing.T, s string) {
		var rec bundle.Asset
		if json.Unmarshal([]byte(s), &rec) != nil {
			return
		}
		a, err := AssetFromRecord(rec)
		if err != nil {
			if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("error code %s: %v", tandem.ErrorCode(err), err)
			}
			return
		}
		if a.Validate() != nil {
			t.Fatalf("accepted an invalid asset: %+v", a)
		}
		for _, fl := range a.Files {
			if bundle.CheckPath(fl.Path) != nil {
				t.Fatalf("unsafe file path %q", fl.Path)
			}
		}
		if ds, ok := a.Spec.(*tandem.Datastore); ok && len(ds.Credentials) > 0 {
			t.Fatal("accepted a datastore with credentials")
		}
	})
}
