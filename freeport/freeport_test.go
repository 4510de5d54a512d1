package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestMany(t *testing.T) {
	ps, err := Many(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ps {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v", ps)
		}
		seen[p] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d is not free: %v", p, err)
		}
		l.Close()
	}
	if p, err := One(); err != nil || p <= 0 {
		t.Fatalf("One = %d, %v", p, err)
	}
}
