package localexec

import (
	"os"
	"path/filepath"
	"syscall"
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

func TestParseGroup(t *testing.T) {
	g, zombie, err := parseGroup([]byte("4243 (a (weird) name) S 1 4242 4242 0 -1 4194560\n"))
	if err != nil || g != 4242 || zombie {
		t.Fatalf("parseGroup = %d %v %v, want 4242 false nil", g, zombie, err)
	}
	if _, zombie, _ := parseGroup([]byte("7 (sh) Z 1 7 7 0\n")); !zombie {
		t.Fatal("state Z not seen as a zombie")
	}
	if _, _, err := parseGroup([]byte("12 (x) S 1")); err == nil {
		t.Fatal("a short line parsed")
	}
}

// A member of the group that outlives its leader keeps the group live;
// once it ends, the group is gone.
func TestGroupLiveOutlivesTheLeader(t *testing.T) {
	e, _ := newExec(t)
	s := spec(t, "orphan", `sleep 300 & echo $! > child.pid`)
	h := start(t, e, s)
	child, ticks := readPid(t, filepath.Join(s.WorkDir, "child.pid"))
	hd, err := parseHandle(h)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the leader to end", func() bool { return !alive(hd) })
	if !groupLive(hd.pid, hd.startTicks) {
		t.Fatal("the group is not live while its background child runs")
	}
	if err := syscall.Kill(child, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the child to end", func() bool { return pidGone(child, ticks) })
	waitFor(t, "the group to end", func() bool { return !groupLive(hd.pid, hd.startTicks) })
}
