package sqlstore_test

import (
	"context"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

func newEnv(name, version, image string) *tandem.Asset {
	return &tandem.Asset{Kind: tandem.AssetEnvironment, Name: name, Version: version,
		Tags: map[string]string{"t": "1"}, Spec: &tandem.Environment{Image: image}}
}

func TestAssetsVersionsArchiveAndReplay(t *testing.T) {
	for _, b := range storetest.MetadataURLs(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			s, err := sqlstore.Open(ctx, b.URL, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			a1, err := s.CreateAsset(ctx, newEnv("env", "", "img:1"), "", nil)
			if err != nil || a1.Version != "1" {
				t.Fatalf("create: %v %+v", err, a1)
			}
			a2, err := s.CreateAsset(ctx, newEnv("env", "", "img:2"), "", nil)
			if err != nil || a2.Version != "2" {
				t.Fatalf("create 2: %v %+v", err, a2)
			}
			head, _ := s.Head(ctx)
			if _, err := s.CreateAsset(ctx, newEnv("env", "2", "img:other"), "", nil); tandem.ErrorCode(err) != tandem.EEXISTS {
				t.Fatalf("recreate version 2: %v; want EEXISTS", err)
			}
			if _, err := s.CreateAsset(ctx, newEnv("bad name!", "", "x"), "", nil); tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("bad name: %v", err)
			}
			if h, _ := s.Head(ctx); h != head {
				t.Fatalf("failed creates changed the journal: %v -> %v", head, h)
			}
			latest, err := s.GetAsset(ctx, tandem.AssetEnvironment, "env", "latest")
			if err != nil || latest.Version != "2" || latest.Spec.(*tandem.Environment).Image != "img:2" {
				t.Fatalf("latest = %+v, %v", latest, err)
			}
			if err := s.ArchiveAsset(ctx, tandem.AssetEnvironment, "env", "2", true); err != nil {
				t.Fatal(err)
			}
			if latest, _ := s.GetAsset(ctx, tandem.AssetEnvironment, "env", "latest"); latest.Version != "1" {
				t.Fatalf("latest after archive = %s", latest.Version)
			}
			if v2, err := s.GetAsset(ctx, tandem.AssetEnvironment, "env", "2"); err != nil || !v2.Archived {
				t.Fatalf("archived version by number: %+v %v", v2, err)
			}
			if l, _ := s.ListAssets(ctx, tandem.AssetEnvironment, "env", false); len(l) != 1 {
				t.Fatalf("list without archived = %d", len(l))
			}
			if err := s.ArchiveAsset(ctx, tandem.AssetEnvironment, "env", "2", false); err != nil {
				t.Fatal(err)
			}
			desc := "new"
			if u, err := s.UpdateAsset(ctx, tandem.AssetEnvironment, "env", "1", &desc, map[string]string{"a": "b"}); err != nil || u.Description != "new" || u.Tags["a"] != "b" || u.Tags["t"] != "" {
				t.Fatalf("update = %+v %v", u, err)
			}
			// Datastores: create replaces; the secret is kept when not given
			// and the datastore still points at the same storage.
			ds := &tandem.Asset{Kind: tandem.AssetDatastore, Name: "ds", Spec: &tandem.Datastore{Type: "s3", Bucket: "b"}}
			if _, err := s.CreateAsset(ctx, ds, "CIPHERTEXT", nil); err != nil {
				t.Fatal(err)
			}
			ds.Spec = &tandem.Datastore{Type: "s3", Bucket: "b", Prefix: "p/"}
			if _, err := s.CreateAsset(ctx, ds, "", nil); err != nil {
				t.Fatal(err)
			}
			got, _ := s.GetAsset(ctx, tandem.AssetDatastore, "ds", "")
			if d := got.Spec.(*tandem.Datastore); d.Prefix != "p/" || !d.HasCredentials || d.Credentials != nil {
				t.Fatalf("datastore = %+v", d)
			}
			if sec, _ := s.AssetSecret(ctx, tandem.AssetDatastore, "ds"); sec != "CIPHERTEXT" {
				t.Fatalf("secret = %q", sec)
			}
			list, _ := s.ListAssets(ctx, tandem.AssetEnvironment, "", false)
			if len(list) != 1 || list[0].Version != "2" {
				t.Fatalf("list latest per name = %+v", list)
			}

			// A secondary that applies the journal ends with the same rows.
			s2, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			es, _ := s.ReadJournal(ctx, 0, 1000)
			for _, e := range es {
				if _, err := s2.Apply(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			for _, v := range []string{"1", "2"} {
				x, _ := s.GetAsset(ctx, tandem.AssetEnvironment, "env", v)
				y, err := s2.GetAsset(ctx, tandem.AssetEnvironment, "env", v)
				if err != nil || x.Description != y.Description || x.UpdatedMS != y.UpdatedMS || x.Archived != y.Archived || len(x.Tags) != len(y.Tags) {
					t.Fatalf("replica differs: %+v vs %+v (%v)", x, y, err)
				}
			}
			if sec, _ := s2.AssetSecret(ctx, tandem.AssetDatastore, "ds"); sec != "CIPHERTEXT" {
				t.Fatalf("replica secret = %q", sec)
			}
		})
	}
}
