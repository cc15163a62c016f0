//go:build !linux

package worker

import "syscall"

// sysProcAttr puts a worker in its own process group, so that a terminal's
// signals reach only the parent.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
