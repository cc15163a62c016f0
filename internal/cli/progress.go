package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

var termIsTerminal = term.IsTerminal

// bar is a progress bar on a terminal, or nothing: every method is safe on
// a nil *bar, which is what newBar returns when w is not a terminal.
//
// It is drawn here rather than by a progress-bar library: the one used
// before (with its colour and Unicode-width tables) was initialised in
// every audex process, terminal or not.
type bar struct {
	w     io.Writer
	bytes bool
	size  int64 // bytes bar: -1 when unknown

	mu       sync.Mutex
	desc     string
	fraction float64 // fraction bar: 0..1
	n        int64   // bytes bar: bytes so far
	start    time.Time
	drawn    time.Time

	clock func() time.Time // nil: time.Now (tests set it)
}

const (
	barWidth    = 30
	barThrottle = 80 * time.Millisecond
)

// newBar starts a fraction bar on w when w is a terminal.
func newBar(w io.Writer, desc string) *bar {
	if !isTerminal(w) {
		return nil
	}
	b := &bar{w: w, desc: desc, start: time.Now()}
	b.draw(true)
	return b
}

// newBytesBar starts a byte-counting bar on w when w is a terminal; size -1
// means unknown.
func newBytesBar(w io.Writer, desc string, size int64) *bar {
	if !isTerminal(w) {
		return nil
	}
	b := &bar{w: w, desc: desc, bytes: true, size: size, start: time.Now()}
	b.draw(true)
	return b
}

// set moves the bar to fraction f in [0, 1] with a new description.
func (b *bar) set(f float64, desc string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if desc != "" {
		b.desc = desc
	}
	b.fraction = min(max(f, 0), 1)
	if b.bytes && b.size > 0 {
		b.n = int64(b.fraction * float64(b.size))
	}
	b.draw(false)
}

// Write counts p's bytes on a bytes bar (for io.TeeReader).
func (b *bar) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n += int64(len(p))
	if b.size > 0 {
		b.fraction = min(float64(b.n)/float64(b.size), 1)
	}
	b.draw(false)
	return len(p), nil
}

// reader counts bytes read through it on a bytes bar.
func (b *bar) reader(r io.Reader) io.Reader {
	if b == nil {
		return r
	}
	return io.TeeReader(r, b)
}

// done removes the bar from the terminal.
func (b *bar) done() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprint(b.w, "\r\x1b[K")
}

func (b *bar) now() time.Time {
	if b.clock != nil {
		return b.clock()
	}
	return time.Now()
}

// draw rewrites the line, at most every barThrottle unless forced; b.mu is
// held.
func (b *bar) draw(force bool) {
	now := b.now()
	if !force && now.Sub(b.drawn) < barThrottle {
		return
	}
	b.drawn = now
	var line strings.Builder
	line.WriteString("\r\x1b[K" + b.desc)
	elapsed := now.Sub(b.start)
	if !b.bytes || b.size > 0 {
		full := int(b.fraction * barWidth)
		fmt.Fprintf(&line, " %3d%% |%s%s|", int(b.fraction*100), strings.Repeat("█", full), strings.Repeat(" ", barWidth-full))
	}
	if b.bytes {
		rate := float64(b.n) / max(elapsed.Seconds(), 1e-3)
		if b.size > 0 {
			fmt.Fprintf(&line, " (%s/%s, %s/s)", humanBytes(b.n), humanBytes(b.size), humanBytes(int64(rate)))
		} else {
			fmt.Fprintf(&line, " %s (%s/s)", humanBytes(b.n), humanBytes(int64(rate)))
		}
	}
	fmt.Fprintf(&line, " [%s", elapsed.Round(time.Second))
	if b.fraction > 0.01 && b.fraction < 1 {
		left := time.Duration(float64(elapsed) * (1 - b.fraction) / b.fraction)
		fmt.Fprintf(&line, ":%s", left.Round(time.Second))
	}
	line.WriteString("]")
	io.WriteString(b.w, line.String())
}
