//go:build !tandemtest

package sqlstore

import "context"

// A release build has no test ops and no test tables; the build tag
// tandemtest (scripts/test.sh) adds them (testnotes_tandemtest.go).

func (s *Store) registerTestOps() {}

func (s *Store) testSchema(context.Context) error { return nil }
