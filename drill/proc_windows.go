package drill

import "syscall"

// childAttr has nothing to set on Windows.
func childAttr() *syscall.SysProcAttr { return nil }
