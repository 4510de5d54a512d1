package sqlstore_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

func art(p string, size int64) tandem.Artifact {
	return tandem.Artifact{Path: p, Size: size, SHA256: "ab" + p, CreatedMs: 1000 + size}
}

func TestArtifactRecords(t *testing.T) {
	for _, b := range storetest.MetadataURLs(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			s, err := sqlstore.Open(ctx, b.URL, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			q := s.Reader()
			for _, a := range []tandem.Artifact{art("0/r/artifacts/a.txt", 1), art("0/r/artifacts/d/b.txt", 2),
				art("0/r/artifacts/d/e/c.txt", 3), art("0/r2/artifacts/x", 4), art("0/r/artifacts/d/b.txt", 5)} {
				e, err := s.PutArtifact(ctx, a)
				if err != nil {
					t.Fatal(err)
				}
				want := []tandem.BlobRef{{Path: a.Path, SHA256: a.SHA256, Size: a.Size}}
				if e.Op != "artifact.put" || e.Kind != tandem.KindArtifacts || e.Key != a.Path || !reflect.DeepEqual(e.Blobs, want) {
					t.Fatalf("entry = %+v", e)
				}
			}
			got, err := sqlstore.ListArtifactDir(ctx, q, "0/r/artifacts")
			want := []tandem.ArtifactEntry{{Name: "a.txt", Size: 1}, {Name: "d", IsDir: true}}
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("list = %+v, %v; want %+v", got, err, want)
			}
			got, _ = sqlstore.ListArtifactDir(ctx, q, "")
			if !reflect.DeepEqual(got, []tandem.ArtifactEntry{{Name: "0", IsDir: true}}) {
				t.Fatalf("root = %+v", got)
			}
			if a, err := sqlstore.GetArtifact(ctx, q, "0/r/artifacts/d/b.txt"); err != nil || a != art("0/r/artifacts/d/b.txt", 5) {
				t.Fatalf("overwritten record = %+v, %v", a, err)
			}
			if _, err := sqlstore.GetArtifact(ctx, q, "0/r/artifacts/d"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
				t.Fatalf("get dir: %v", err)
			}
			// A file where a directory is, or under a file, is refused.
			for _, p := range []string{"0/r/artifacts/d", "0/r/artifacts/a.txt/z"} {
				if _, err := s.PutArtifact(ctx, art(p, 1)); tandem.ErrorCode(err) != tandem.EINVALID {
					t.Fatalf("put %s: %v; want EINVALID", p, err)
				}
			}
			head, _ := s.Head(ctx)
			// Delete a directory: its files go, emptied parents are pruned.
			e, files, err := s.DeleteArtifacts(ctx, "0/r/artifacts/d")
			if err != nil || e.Op != "artifact.delete" || !reflect.DeepEqual(files, []string{"0/r/artifacts/d/b.txt", "0/r/artifacts/d/e/c.txt"}) {
				t.Fatalf("delete = %+v, %v, %v", e, files, err)
			}
			if e.Seq != head.Seq+1 {
				t.Fatalf("refused puts wrote journal entries: head %v, delete at %v", head, e.Position)
			}
			if ok, _ := sqlstore.IsArtifactDir(ctx, q, "0/r/artifacts/d/e"); ok {
				t.Fatal("emptied directory still listed")
			}
			got, _ = sqlstore.ListArtifactDir(ctx, q, "0/r/artifacts")
			if !reflect.DeepEqual(got, []tandem.ArtifactEntry{{Name: "a.txt", Size: 1}}) {
				t.Fatalf("after delete = %+v", got)
			}
			if _, _, err := s.DeleteArtifacts(ctx, "0/r/artifacts/nothing"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
				t.Fatalf("delete of nothing: %v", err)
			}
			// A prefix that is not a directory boundary is not matched.
			if _, err := s.PutArtifact(ctx, art("0/r/artifacts/ab", 7)); err != nil {
				t.Fatal(err)
			}
			if _, files, _ := s.DeleteArtifacts(ctx, "0/r/artifacts/a"); files != nil {
				t.Fatalf("delete of a prefix removed %v", files)
			}

			// Replaying the journal on a fresh store gives the same state.
			s2, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			es, err := s.ReadJournal(ctx, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				if _, err := s2.Apply(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			a1, _ := sqlstore.ArtifactsUnder(ctx, q, "")
			a2, _ := sqlstore.ArtifactsUnder(ctx, s2.Reader(), "")
			if len(a1) != 3 || !reflect.DeepEqual(a1, a2) {
				t.Fatalf("primary %+v, replica %+v", a1, a2)
			}
			for _, dir := range []string{"", "0", "0/r", "0/r/artifacts", "0/r/artifacts/d"} {
				l1, _ := sqlstore.ListArtifactDir(ctx, q, dir)
				l2, _ := sqlstore.ListArtifactDir(ctx, s2.Reader(), dir)
				if !reflect.DeepEqual(l1, l2) {
					t.Fatalf("list %q: primary %+v, replica %+v", dir, l1, l2)
				}
			}
		})
	}
}
