package isolate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"time"
)

// proc is one isolate process.
type proc struct {
	seq    int64
	pid    int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *lineWriter // requests, on stdin
	lastID uint64      // of the last job sent; used by one Extract at a time

	replies  chan reply    // from stdout; closed when stdout ends
	abandon  chan struct{} // closed by stop: nobody reads replies any more
	stopOnce sync.Once
	exited   chan struct{} // closed once the process is reaped

	// Set before exited is closed.
	readErr error // a broken protocol stream
	waitErr error
}

// start starts an isolate process and waits for its ready message.
func (p *Pool) start() (*proc, error) {
	w := &proc{
		seq:     p.seq.Add(1),
		replies: make(chan reply),
		abandon: make(chan struct{}),
		exited:  make(chan struct{}),
	}
	logw := &logWriter{log: p.log.With("isolate", w.seq)}
	cmd := exec.Command(p.command, p.args...)
	cmd.Env = p.env
	cmd.Stderr = logw
	cmd.SysProcAttr = sysProcAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("isolate: stdin pipe: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		stdin.Close()
		return nil, fmt.Errorf("isolate: stdout pipe: %w", err)
	}
	started := make(chan error, 1)
	p.spawn <- func() { started <- cmd.Start() }
	if err := <-started; err != nil {
		stdin.Close()
		stdout.Close()
		return nil, fmt.Errorf("isolate: start %s: %w", p.command, err)
	}
	w.cmd, w.pid, w.stdin = cmd, cmd.Process.Pid, stdin
	w.out = &lineWriter{w: stdin}
	p.readers.Add(1)
	go func() {
		defer p.readers.Done()
		w.read(stdout)
		logw.flush()
	}()

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	var fail error
	select {
	case m, ok := <-w.replies:
		switch {
		case !ok:
			<-w.exited
			fail = w.readErr
			if fail == nil {
				fail = errors.New("exited before it was ready")
			}
		case m.Type != msgReady || m.Version != protocolVersion:
			fail = fmt.Errorf("%w: said %q version %d, want %q version %d", errProtocol, m.Type, m.Version, msgReady, protocolVersion)
		default:
			if p.cfg.MemoryLimit > 0 && m.MemoryLimit != p.cfg.MemoryLimit && !raceEnabled {
				p.log.Warn("isolate: isolate did not apply the memory limit (does it run isolate.ServeProcess?)",
					"isolate", w.seq, "pid", w.pid, "want", p.cfg.MemoryLimit, "got", m.MemoryLimit)
			}
			p.mu.Lock()
			p.live[w] = struct{}{}
			p.mu.Unlock()
			p.log.Debug("isolate: started", "isolate", w.seq, "pid", w.pid, "memory_limit", m.MemoryLimit)
			return w, nil
		}
	case <-timer.C:
		fail = fmt.Errorf("not ready within %v", startTimeout)
	case <-p.kill:
		w.stop()
		<-w.exited
		return nil, ErrClosed
	}
	w.stop()
	<-w.exited
	return nil, fmt.Errorf("isolate: start %s %v: %w (%s)", p.command, p.args, fail, w.status())
}

// read delivers stdout's messages until EOF, then reaps the process.
func (w *proc) read(stdout io.Reader) {
	sc := newLineScanner(stdout)
	for sc.Scan() {
		var m reply
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			w.readErr = fmt.Errorf("%w: bad message: %w", errProtocol, err)
			break
		}
		select {
		case w.replies <- m:
		case <-w.abandon:
		}
	}
	if w.readErr == nil && sc.Err() != nil {
		w.readErr = fmt.Errorf("%w: read: %w", errProtocol, sc.Err())
	}
	if w.readErr != nil {
		// An isolate whose stream broke cannot be trusted with another job.
		w.cmd.Process.Kill()
	}
	close(w.replies)
	w.waitErr = w.cmd.Wait()
	close(w.exited)
}

// stop kills the process and its process group (idempotent): a descendant
// holding the pipes would otherwise keep the reader waiting. Replies are
// discarded from now on.
func (w *proc) stop() {
	w.stopOnce.Do(func() {
		close(w.abandon)
		select {
		case <-w.exited: // reaped: the group id may be reused
		default:
			_ = syscall.Kill(-w.pid, syscall.SIGKILL)
		}
		w.cmd.Process.Kill()
	})
}

// status describes how the process ended; call it after exited is closed.
func (w *proc) status() string {
	if w.waitErr != nil {
		return w.waitErr.Error()
	}
	return "exited"
}

// maxLogLine bounds one logged line of an isolate's stderr.
const maxLogLine = 8 << 10

// logWriter turns an isolate's stderr into log records: a line holding a JSON
// slog record (what ServeProcess's logger writes) keeps its level, message
// and attributes; any other line is logged as it is.
type logWriter struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

func (l *logWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	rest := l.buf
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		l.emit(rest[:i])
		rest = rest[i+1:]
	}
	if len(rest) > maxLogLine {
		l.emit(rest)
		rest = nil
	}
	l.buf = append(l.buf[:0], rest...)
	return len(b), nil
}

func (l *logWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = nil
	}
}

func (l *logWriter) emit(line []byte) {
	if len(line) > maxLogLine {
		line = line[:maxLogLine]
	}
	var rec map[string]any
	if json.Unmarshal(line, &rec) == nil {
		msg, okMsg := rec[slog.MessageKey].(string)
		lvlText, okLvl := rec[slog.LevelKey].(string)
		var lvl slog.Level
		if okMsg && okLvl && lvl.UnmarshalText([]byte(lvlText)) == nil {
			attrs := make([]slog.Attr, 0, len(rec))
			for _, k := range slices.Sorted(maps.Keys(rec)) {
				if k != slog.MessageKey && k != slog.LevelKey && k != slog.TimeKey {
					attrs = append(attrs, slog.Any(k, rec[k]))
				}
			}
			l.log.LogAttrs(context.Background(), lvl, msg, attrs...)
			return
		}
	}
	l.log.Warn("isolate: stderr", "line", string(bytes.TrimRight(line, "\r")))
}
