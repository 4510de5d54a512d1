//go:build tools

// Package dex pins the version of Dex that oidc's tests run against;
// scripts/test.sh builds it with
// `go build -o .tandem/bin/dex github.com/dexidp/dex/cmd/dex` here.
package dex

import _ "github.com/dexidp/dex/cmd/dex"
