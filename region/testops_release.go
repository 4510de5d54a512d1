//go:build !tandemtest

package region

import "github.com/tandemml/tandem/replication"

// TestHooks is empty in a release build: no test ops, no fault injectors
// (the tag tandemtest builds testops.go instead).
type TestHooks struct{}

func (Config) replicationHooks() replication.TestHooks { return replication.TestHooks{} }

func (*Region) routesTestOps() {}
