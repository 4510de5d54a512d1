//go:build !linux

package localexec

import (
	"errors"
	"syscall"

	"github.com/tandemml/tandem"
)

func supported() error {
	return tandem.Errorf(tandem.ENOTIMPLEMENTED, "compute type local runs attempts on Linux hosts only")
}

func procAttr() *syscall.SysProcAttr { return nil }

func procStart(pid int) (uint64, bool, error) {
	return 0, false, errors.New("process start times need Linux /proc")
}

func killGroup(pgid int, sig syscall.Signal) error { return supported() }

func groupLive(pid int, ticks uint64) bool { return false }
