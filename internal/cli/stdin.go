package cli

import (
	"context"
	"io"
	"os"
)

// inputReader returns stdin as the extractor should read it: a regular file
// (redirected with <) as is, so it can seek; anything else (a pipe, a
// terminal) through ctxReader, so an interrupt is not stuck behind a read
// from a stalled pipe.
func inputReader(ctx context.Context, stdin io.Reader) io.Reader {
	if f, ok := stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			return f
		}
	}
	return &ctxReader{ctx: ctx, r: stdin}
}

// ctxReader reads r on a helper goroutine so that Read returns ctx's error
// as soon as ctx is done, even while the underlying read blocks. The blocked
// read is abandoned (the process is about to exit).
type ctxReader struct {
	ctx      context.Context
	r        io.Reader
	inflight chan readResult
	left     []byte
	err      error
}

type readResult struct {
	b   []byte
	err error
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if len(c.left) > 0 {
		n := copy(p, c.left)
		c.left = c.left[n:]
		return n, nil
	}
	if c.err != nil {
		return 0, c.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if c.inflight == nil {
		ch := make(chan readResult, 1)
		buf := make([]byte, len(p))
		go func() {
			n, err := c.r.Read(buf)
			ch <- readResult{buf[:n], err}
		}()
		c.inflight = ch
	}
	select {
	case <-c.ctx.Done():
		return 0, c.ctx.Err()
	case res := <-c.inflight:
		c.inflight = nil
		n := copy(p, res.b)
		c.left = res.b[n:]
		if res.err != nil {
			c.err = res.err
			if len(c.left) == 0 {
				return n, res.err
			}
		}
		return n, nil
	}
}
