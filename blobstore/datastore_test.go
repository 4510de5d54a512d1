package blobstore

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

func TestCheckDatastore(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	if err := CheckDatastore(ctx, &tandem.Datastore{Type: tandem.DatastoreLocal, Path: dir}, nil); err != nil {
		t.Fatalf("existing folder: %v", err)
	}
	err := CheckDatastore(ctx, &tandem.Datastore{Type: tandem.DatastoreLocal, Path: filepath.Join(dir, "missing")}, nil)
	if tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
		t.Fatalf("missing folder: %v", err)
	}
	err = CheckDatastore(ctx, &tandem.Datastore{Type: tandem.DatastoreAzureBlob, AccountName: "a", ContainerName: "c"}, map[string]string{"account_key": "k"})
	if tandem.ErrorCode(err) != tandem.ENOTIMPLEMENTED {
		t.Fatalf("azure_blob: %v", err)
	}
	if got := scrubCreds("denied for AKIDSECRET and again AKIDSECRET", map[string]string{"access_key_id": "AKIDSECRET"}); strings.Contains(got, "AKIDSECRET") {
		t.Fatalf("scrub: %s", got)
	}
}
