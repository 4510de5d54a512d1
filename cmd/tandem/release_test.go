package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// TestReleaseBuildHasNoTestHooks builds tandem as a user does (no build
// tags) and checks that nothing of the test ops ships: the binary holds no
// test.note op, TANDEM_TEST_OPS=1 opens no endpoint, and the database it
// creates has no test_notes table.
func TestReleaseBuildHasNoTestHooks(t *testing.T) {
	bin, err := tandemBinary()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	// (test_notes is named by migration 0021, which drops it.)
	for _, s := range []string{"test.note.", "TANDEM_TEST_OPS", "TANDEM_TEST_CORRUPT_BLOBS", "CREATE TABLE IF NOT EXISTS test_notes", "/test/note"} {
		if bytes.Contains(exe, []byte(s)) {
			t.Errorf("the release binary contains %q", s)
		}
	}

	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", threeFreePorts(t))
	db := filepath.Join(dir, "tandem.db")
	cmd := exec.Command(bin, "server", "--no-auth", "--listen", addr,
		"--metadata", "sqlite://"+db, "--artifacts", "file://"+filepath.Join(dir, "artifacts"))
	cmd.Env = append(os.Environ(), "TANDEM_TEST_OPS=1", "TANDEM_TEST_CORRUPT_BLOBS=5")
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	req, _ := http.NewRequest(http.MethodPut, base+"/api/tandem/v1/test/note?kind=runs&key=k&value=v", strings.NewReader(""))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("PUT test/note on a release build: HTTP %d, want an error", resp.StatusCode)
	}

	conn, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int
	if err := conn.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'test_notes'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatal("a database created by a release build has the test_notes table")
	}
	var tables int
	if err := conn.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'runs'`).Scan(&tables); err != nil || tables != 1 {
		t.Fatalf("the check looked at the wrong database (runs table: %d, %v)", tables, err)
	}
}
