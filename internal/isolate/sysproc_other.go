//go:build !linux

package isolate

import "syscall"

// sysProcAttr puts an isolate in its own process group, so that a terminal's
// signals reach only the parent.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
