package tandem

import (
	"fmt"
	"testing"
)

// An *Error reads as its message, wrapped or not; the code stays in Code.
func TestErrorReadsLikeAMessage(t *testing.T) {
	err := Errorf(EINVALID, "name %q is too long", "x")
	if got := err.Error(); got != `name "x" is too long` {
		t.Fatalf("Error() = %q", got)
	}
	if got := fmt.Errorf("create: %w", err).Error(); got != `create: name "x" is too long` {
		t.Fatalf("wrapped = %q", got)
	}
	if got := (&Error{Code: ENOTFOUND}).Error(); got != ENOTFOUND {
		t.Fatalf("no message: %q", got)
	}
}
