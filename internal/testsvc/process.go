package testsvc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// process is a server the test runs: killed by its process id when the
// test ends (or the test process dies: PDEATHSIG), its output in a log file
// that an early exit reports.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	mu   sync.Mutex
	stop bool
}

// freePort returns a loopback port nobody listens on now. Another process
// may take it before the server binds it: starters try a few times.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// start runs cmd, named name in errors, its output into logPath, as cred
// (nil: as this process), and waits until ready succeeds (polled every
// 20 ms, for at most limit), the server exits, or the limit passes. On an
// error the server is stopped.
func start(name string, cmd *exec.Cmd, logPath string, cred *syscall.Credential, limit time.Duration, ready func() error) (*process, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testsvc: start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	deadline := time.Now().Add(limit)
	for {
		if ready() == nil {
			return p, nil
		}
		select {
		case <-p.done:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("testsvc: %s exited before it was ready: %s\n%s", name, cmd.ProcessState, log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, errors.New("testsvc: " + name + " not ready after " + limit.String())
		}
	}
}

// Stop kills the server, by its process id, and waits for it to exit. It
// may be called more than once (tests stop a server mid-way to see what a
// failing store does).
func (p *process) Stop() {
	p.mu.Lock()
	if !p.stop {
		p.stop = true
		p.cmd.Process.Kill()
	}
	p.mu.Unlock()
	<-p.done
}
