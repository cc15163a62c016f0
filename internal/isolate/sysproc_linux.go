package isolate

import "syscall"

// sysProcAttr puts an isolate in its own process group, so that a terminal's
// signals reach only the parent, and has the kernel kill it when the parent
// dies, so that an isolate stuck in C never outlives the service.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
