package isolate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/audex/audex/extract"
)

// extractFunc is the isolate's job: extract.ExtractFile, wrapped by the
// test-only faults when built with the audexfault tag.
type extractFunc func(ctx context.Context, dstPath, srcPath string, opts *extract.Options) (*extract.Result, error)

// errProtocol marks a peer that broke the protocol.
var errProtocol = errors.New("isolate protocol violation")

// Serve is the isolate side of the pool: it reads jobs from r, runs each with
// extract.ExtractFile in this process and writes progress and the outcome to
// w, one job at a time. A cancel message cancels the running job's context.
//
// Serve returns nil when r reaches EOF (the parent closed the pipe), after
// canceling and waiting for a running job; it returns ctx's error when ctx
// ends first. A Read blocked on r is not interrupted: the goroutine reading r
// lives until r delivers EOF or an error, which is what happens to an isolate
// process's stdin when its parent goes away.
//
// The hidden `audex isolate` command uses [ServeProcess], which also applies
// the pool's memory cap and guards the protocol pipe.
func Serve(ctx context.Context, r io.Reader, w io.Writer) error {
	return serve(ctx, r, w, withFaults(extract.ExtractFile), 0)
}

// serve runs the protocol with fn doing the work. memoryLimit is reported in
// the ready message (0: none applied).
func serve(ctx context.Context, r io.Reader, w io.Writer, fn extractFunc, memoryLimit int64) error {
	out := &lineWriter{w: w}
	if err := out.send(reply{Type: msgReady, Version: protocolVersion, PID: os.Getpid(), MemoryLimit: memoryLimit}); err != nil {
		return err
	}

	reqs := make(chan request)
	readErr := make(chan error, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		sc := newLineScanner(r)
		for sc.Scan() {
			var q request
			if err := json.Unmarshal(sc.Bytes(), &q); err != nil {
				readErr <- fmt.Errorf("isolate: %w: bad request: %w", errProtocol, err)
				return
			}
			select {
			case reqs <- q:
			case <-stop:
				return
			}
		}
		readErr <- sc.Err()
	}()

	var cur *servedJob        // the running job, nil when idle
	var curDone chan struct{} // cur.done, or nil (blocks) when idle
	// finish waits for the running job and sends its outcome. The loop sends
	// it, not the job, so that a parent that sees "done" and sends the next
	// job always finds this isolate idle.
	finish := func() {
		<-cur.done
		cur.cancel()
		_ = out.send(cur.outcome)
		cur, curDone = nil, nil
	}
	abort := func() {
		if cur != nil {
			cur.cancel()
			finish()
		}
	}
	for {
		select {
		case q := <-reqs:
			switch q.Type {
			case msgJob:
				if cur != nil {
					id := cur.id
					abort()
					return fmt.Errorf("isolate: %w: job %d sent while job %d runs", errProtocol, q.ID, id)
				}
				jctx, cancel := context.WithCancel(ctx)
				cur = &servedJob{id: q.ID, cancel: cancel, done: make(chan struct{})}
				curDone = cur.done
				go cur.run(jctx, out, fn, q)
			case msgCancel:
				if cur != nil && q.ID == cur.id {
					cur.cancel()
				}
			default:
				abort()
				return fmt.Errorf("isolate: %w: unknown request %q", errProtocol, q.Type)
			}
		case <-curDone:
			finish()
		case err := <-readErr:
			abort()
			if err != nil {
				return fmt.Errorf("isolate: read requests: %w", err)
			}
			return nil
		case <-ctx.Done():
			abort()
			return ctx.Err()
		}
	}
}

type servedJob struct {
	id      uint64
	cancel  context.CancelFunc
	done    chan struct{} // closed once outcome is set
	outcome reply
}

// run runs the job and sets its outcome. A panic becomes the job's error,
// with the stack on stderr (the parent logs it).
func (j *servedJob) run(ctx context.Context, out *lineWriter, fn extractFunc, q request) {
	defer close(j.done)
	var opts extract.Options
	if q.Options != nil {
		opts = q.Options.options()
	}
	if q.LogLevel != nil {
		opts.Logger = slog.New(&logHandler{out: out, id: q.ID, level: *q.LogLevel})
	}
	if q.Progress {
		opts.Progress = func(p extract.Progress) {
			// A failed write means the parent is gone; stdin's EOF ends us.
			_ = out.send(reply{Type: msgProgress, ID: q.ID, Done: p.Done, Total: p.Total})
		}
	}
	res, err := func() (res *extract.Result, err error) {
		defer func() {
			if v := recover(); v != nil {
				fmt.Fprintf(os.Stderr, "isolate: panic in job %d: %v\n%s", q.ID, v, debug.Stack())
				res, err = nil, fmt.Errorf("isolate: panic: %v", v)
			}
		}()
		return fn(ctx, q.Dst, q.Src, &opts)
	}()
	if err != nil {
		res = nil
	}
	j.outcome = reply{Type: msgDone, ID: q.ID, Result: toWireResult(res), Error: encodeError(err)}
}
