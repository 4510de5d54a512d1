// Package storetest gives tests real metadata databases and artifact
// stores: a fresh SQLite file, and a fresh PostgreSQL database on the server
// named by TANDEM_TEST_POSTGRES (started by scripts/services.sh). Under CI
// (CI=true) a missing service fails the test instead of skipping it, so a
// green CI always means the PostgreSQL and S3 paths ran.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// Backend is one metadata database to test against.
type Backend struct {
	Name string // "sqlite" or "postgres"
	URL  string
}

// MetadataURLs returns a fresh SQLite URL and, when PostgreSQL is available,
// a fresh PostgreSQL database URL (dropped when the test ends).
func MetadataURLs(t testing.TB) []Backend {
	t.Helper()
	out := []Backend{{Name: "sqlite", URL: SQLiteURL(t)}}
	if u := PostgresURL(t); u != "" {
		out = append(out, Backend{Name: "postgres", URL: u})
	}
	return out
}

// SQLiteURL returns the URL of a new SQLite file in the test's temp folder.
func SQLiteURL(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "tandem.db")
}

// PostgresURL creates a fresh database on the TANDEM_TEST_POSTGRES server and
// returns its URL, or "" (after t.Skip outside CI) when there is no server.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TANDEM_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TANDEM_TEST_POSTGRES is not set under CI: .ci/run must start PostgreSQL (scripts/services.sh)")
		}
		t.Log("TANDEM_TEST_POSTGRES not set: PostgreSQL variant not run")
		return ""
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	name := "t_" + randHex(8)
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return u.String()
}

// S3URL returns a URL for a fresh prefix in the TANDEM_TEST_S3 bucket, or ""
// (after logging, outside CI) when there is no S3 server.
func S3URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TANDEM_TEST_S3")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TANDEM_TEST_S3 is not set under CI: .ci/run must start versitygw (scripts/services.sh)")
		}
		t.Log("TANDEM_TEST_S3 not set: S3 variant not run")
		return ""
	}
	sep := "&"
	if !strings.Contains(base, "?") {
		sep = "?"
	}
	return base + sep + "prefix=" + url.QueryEscape("t-"+randHex(6)+"/")
}

// FileURL returns a file:// URL of a new folder in the test's temp folder.
func FileURL(t testing.TB) string { return "file://" + filepath.Join(t.TempDir(), "artifacts") }

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Ctx returns a context for a test.
func Ctx(t testing.TB) context.Context { return t.Context() }

var _ = fmt.Sprint
