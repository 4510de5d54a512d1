package drill

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
)

// procs runs the drill's witness and regions, each a child process of the
// tandem binary with its output in <dir>/<name>.log.
type procs struct {
	exe, dir string
	env      []string

	mu   sync.Mutex
	cmds map[string]*exec.Cmd
}

func newProcs(exe, dir string) *procs {
	return &procs{exe: exe, dir: dir, env: os.Environ(), cmds: map[string]*exec.Cmd{}}
}

// start runs `tandem args...` as name, appending to name's log.
func (p *procs) start(name string, args ...string) error {
	lf, err := os.OpenFile(filepath.Join(p.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	c := exec.Command(p.exe, args...)
	c.Env, c.Stdout, c.Stderr = p.env, lf, lf
	c.SysProcAttr = childAttr()
	if err := c.Start(); err != nil {
		lf.Close()
		return err
	}
	go func() { c.Wait(); lf.Close() }()
	p.mu.Lock()
	p.cmds[name] = c
	p.mu.Unlock()
	return nil
}

// signal sends sig to name; after SIGKILL the process is forgotten (start
// runs it again).
func (p *procs) signal(name string, sig syscall.Signal) {
	p.mu.Lock()
	c := p.cmds[name]
	if sig == syscall.SIGKILL {
		delete(p.cmds, name)
	}
	p.mu.Unlock()
	if c != nil {
		c.Process.Signal(sig)
	}
}

// killAll kills every process still running.
func (p *procs) killAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, c := range p.cmds {
		c.Process.Signal(syscall.SIGKILL)
		delete(p.cmds, name)
	}
}

// writeTails writes the last n lines of every log in the drill's
// directory to w: what a failed drill leaves to read once its directory
// is gone.
func writeTails(w io.Writer, dir string, n int) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	sort.Strings(logs)
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		fmt.Fprintf(w, "drill: --- last %d lines of %s ---\n%s", n, filepath.Base(l), tail(b, n))
	}
}

// tail is the last n lines of b, ending in a newline.
func tail(b []byte, n int) []byte {
	b = bytes.TrimRight(b, "\n")
	i := len(b)
	for range n {
		j := bytes.LastIndexByte(b[:i], '\n')
		if j < 0 {
			i = 0
			break
		}
		i = j
	}
	out := bytes.TrimPrefix(b[i:], []byte("\n"))
	if len(out) == 0 {
		return nil
	}
	return append(out, '\n')
}
