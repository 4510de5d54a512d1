package localexec

import (
	"os"
	"testing"
)

func TestParseStat(t *testing.T) {
	line := []byte("4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 776655 1000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n")
	ticks, zombie, err := parseStat(line)
	if err != nil || ticks != 776655 || zombie {
		t.Fatalf("parseStat = %d %v %v, want 776655 false nil", ticks, zombie, err)
	}
	z := []byte("7 (sh) Z 1 7 7 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 55 1000 10 0\n")
	if _, zombie, _ := parseStat(z); !zombie {
		t.Fatal("state Z not seen as a zombie")
	}
	if _, _, err := parseStat([]byte("12 (x) S 1 2")); err == nil {
		t.Fatal("a short line parsed")
	}
	// Our own process: a start time that stays the same.
	a, _, err := procStart(os.Getpid())
	b, _, _ := procStart(os.Getpid())
	if err != nil || a == 0 || a != b {
		t.Fatalf("procStart(self) = %d, %d, %v", a, b, err)
	}
}
