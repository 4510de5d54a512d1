package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/witness"
)

// TestWitnessCommand runs `tandem witness` in-process, takes a lease,
// restarts the command on the same data directory and finds the lease.
func TestWitnessCommand(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte("k1\n"), 0o600)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	run := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			root := newRootCmd()
			root.SetArgs([]string{"witness", "--listen", addr, "--data", filepath.Join(dir, "data"), "--key-file", keyFile, "--log-level", "error"})
			done <- root.ExecuteContext(ctx)
		}()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("witness command: %v", err)
			}
		}
	}
	ctx := context.Background()
	cl, _ := witness.NewClient("http://"+addr, "ws", "k1", nil)
	get := func() (tandem.Lease, error) {
		var l tandem.Lease
		var err error
		for range 100 {
			if l, err = cl.Get(ctx); tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		return l, err
	}
	stop := run()
	if _, err := get(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CompareAndSwap(ctx, tandem.Lease{}, tandem.Lease{Holder: "eastus", Epoch: 1, TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	stop()
	stop = run()
	defer stop()
	l, err := get()
	if err != nil || l.Holder != "eastus" || l.Epoch != 1 || l.Expired() {
		t.Fatalf("after restart: %v %v", l, err)
	}
	bad, _ := witness.NewClient("http://"+addr, "ws", "nope", nil)
	if _, err := bad.Get(ctx); tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestWitnessCommandNeedsKey(t *testing.T) {
	t.Setenv("TANDEM_WITNESS_KEY", "")
	root := newRootCmd()
	root.SetArgs([]string{"witness", "--listen", "127.0.0.1:0", "--data", t.TempDir()})
	if err := root.ExecuteContext(context.Background()); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("no key: %v", err)
	}
}
