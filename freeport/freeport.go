// Package freeport picks loopback TCP ports for the processes tandem
// starts on its own host (scoring servers, rank 0 of a distributed job,
// the servers a benchmark compares). A port is free when picked; the
// process that is given it must bind it soon, and callers retry on a
// clash, since another process may take it meanwhile.
package freeport

import (
	"fmt"
	"net"
)

// One returns a loopback TCP port that was free a moment ago.
func One() (int, error) {
	ps, err := Many(1)
	if err != nil {
		return 0, err
	}
	return ps[0], nil
}

// Many returns n distinct loopback TCP ports that were free a moment ago
// (all held open together while picked, so none repeats).
func Many(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
