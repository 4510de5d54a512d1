package sqlstore_test

import (
	"context"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

// TestDatastoreCredentialsStayWithTheirTarget: re-creating a datastore
// without credentials while its endpoint, bucket or account changes is
// refused and changes nothing (the stored secret must not follow it to
// new, perhaps hostile, storage); with new credentials it is accepted.
func TestDatastoreCredentialsStayWithTheirTarget(t *testing.T) {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	orig := tandem.Datastore{Type: "s3", Bucket: "b", Endpoint: "https://s3.example.test", Region: "r1"}
	ds := &tandem.Asset{Kind: tandem.AssetDatastore, Name: "ds", Spec: &orig}
	if _, err := s.CreateAsset(ctx, ds, "CIPHERTEXT", nil); err != nil {
		t.Fatal(err)
	}
	head, _ := s.Head(ctx)
	for name, moved := range map[string]tandem.Datastore{
		"endpoint": {Type: "s3", Bucket: "b", Endpoint: "https://evil.example", Region: "r1"},
		"bucket":   {Type: "s3", Bucket: "other", Endpoint: "https://s3.example.test", Region: "r1"},
		"region":   {Type: "s3", Bucket: "b", Endpoint: "https://s3.example.test", Region: "r2"},
		"type":     {Type: "azure_blob", AccountName: "acct", ContainerName: "b"},
	} {
		ds.Spec = &moved
		if _, err := s.CreateAsset(ctx, ds, "", nil); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Fatalf("%s changed without credentials: %v, want EINVALID", name, err)
		}
	}
	if h, _ := s.Head(ctx); h != head {
		t.Fatalf("refused re-creations wrote: %v -> %v", head, h)
	}
	got, _ := s.GetAsset(ctx, tandem.AssetDatastore, "ds", "")
	if d := got.Spec.(*tandem.Datastore); d.Endpoint != orig.Endpoint || d.Bucket != "b" {
		t.Fatalf("datastore changed: %+v", d)
	}
	ds.Spec = &tandem.Datastore{Type: "s3", Bucket: "other", Endpoint: "https://s3.example.test", Region: "r1"}
	if _, err := s.CreateAsset(ctx, ds, "NEWCIPHER", nil); err != nil {
		t.Fatalf("move with new credentials: %v", err)
	}
	if sec, _ := s.AssetSecret(ctx, tandem.AssetDatastore, "ds"); sec != "NEWCIPHER" {
		t.Fatalf("secret = %q", sec)
	}
}
