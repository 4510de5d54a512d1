package imagecopy

import (
	"reflect"
	"testing"
)

const dig = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestRepository(t *testing.T) {
	for _, c := range []struct{ reg, src, want string }{
		{"127.0.0.1:5001", "127.0.0.1:5000/team/train:1", "127.0.0.1:5001/team/train"},
		{"127.0.0.1:5001/tandem", "127.0.0.1:5000/team/train:1", "127.0.0.1:5001/tandem/team/train"},
		{"127.0.0.1:5000", "127.0.0.1:5000/team/train:1", "127.0.0.1:5000/team/train"},             // its own copy
		{"127.0.0.1:5000/team", "127.0.0.1:5000/team/train@" + dig, "127.0.0.1:5000/team/train"},   // prefix matches
		{"westus.example/", "python:3.11", "westus.example/library/python"},                        // Docker Hub's library
		{"127.0.0.1:5000/teamx", "127.0.0.1:5000/team/train:1", "127.0.0.1:5000/teamx/team/train"}, // not a path prefix
	} {
		got, err := Repository(c.reg, c.src)
		if err != nil || got != c.want {
			t.Errorf("Repository(%q, %q) = %q, %v; want %q", c.reg, c.src, got, err, c.want)
		}
	}
	if _, err := Repository("r", "UPPER/Case:x"); err == nil {
		t.Error("an invalid reference must be refused")
	}
	if _, err := Repository("", "a/b:1"); err == nil {
		t.Error("an empty registry must be refused")
	}
}

func TestTagAndPinned(t *testing.T) {
	if got := TagOf("h:5000/a/b:1.2"); got != "1.2" {
		t.Errorf("TagOf = %q", got)
	}
	if got := TagOf("h:5000/a/b@" + dig); got != "" {
		t.Errorf("TagOf(digest) = %q", got)
	}
	if got, _ := Pinned("h:5000/a/b:1.2", dig); got != "h:5000/a/b@"+dig {
		t.Errorf("Pinned = %q", got)
	}
}

func TestWants(t *testing.T) {
	regs := map[string]string{"east": "127.0.0.1:5001", "west": "127.0.0.1:5002", "north": ""}
	ims := []Image{
		{Environment: "train", Version: "2", Source: "127.0.0.1:5001/ml/train:2", Digest: dig},
		{Environment: "train", Version: "1", Source: "127.0.0.1:5001/ml/train:2", Digest: dig}, // same digest, same place: once
		{Environment: "raw", Version: "1", Source: "127.0.0.1:5001/ml/raw:1"},                  // never resolved: skipped
	}
	got, err := Wants(ims, "west", regs)
	if err != nil {
		t.Fatal(err)
	}
	want := []Want{{Image: ims[1], Destination: "127.0.0.1:5002/ml/train@" + dig, Tag: "2",
		Sources: []string{"127.0.0.1:5001/ml/train@" + dig}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("west wants\n%+v\nwant\n%+v", got, want)
	}
	// The origin's own region holds it where it is: its copy is the source.
	got, _ = Wants(ims, "east", regs)
	if len(got) != 1 || got[0].Destination != "127.0.0.1:5001/ml/train@"+dig || !reflect.DeepEqual(got[0].Sources, []string{"127.0.0.1:5002/ml/train@" + dig}) {
		t.Fatalf("east wants %+v", got)
	}
	// A region without a registry holds nothing.
	if got, _ := Wants(ims, "north", regs); got != nil {
		t.Fatalf("north wants %+v", got)
	}
	// An origin outside every region: the origin first, then the peers' copies.
	ext := []Image{{Environment: "x", Version: "1", Source: "registry.example/x:1", Digest: dig}}
	got, _ = Wants(ext, "west", map[string]string{"east": "e.example", "west": "w.example", "zz": "z.example"})
	if !reflect.DeepEqual(got[0].Sources, []string{"registry.example/x@" + dig, "e.example/x@" + dig, "z.example/x@" + dig}) {
		t.Fatalf("sources %v", got[0].Sources)
	}
}
