package cli

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

var termIsTerminal = term.IsTerminal

// bar is a progress bar on a terminal, or nothing: every method is safe on
// a nil *bar, which is what newBar returns when w is not a terminal.
type bar struct {
	pb    *progressbar.ProgressBar
	bytes bool
}

const barSteps = 1000

// newBar starts a fraction bar on w when w is a terminal.
func newBar(w io.Writer, desc string) *bar {
	if !isTerminal(w) {
		return nil
	}
	return &bar{pb: progressbar.NewOptions(barSteps, barOptions(w, desc)...)}
}

// newBytesBar starts a byte-counting bar on w when w is a terminal; size -1
// means unknown.
func newBytesBar(w io.Writer, desc string, size int64) *bar {
	if !isTerminal(w) {
		return nil
	}
	opts := append(barOptions(w, desc), progressbar.OptionShowBytes(true), progressbar.OptionShowCount())
	return &bar{pb: progressbar.NewOptions64(size, opts...), bytes: true}
}

func barOptions(w io.Writer, desc string) []progressbar.Option {
	return []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(80 * time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionUseANSICodes(true),
	}
}

// set moves the bar to fraction f in [0, 1] with a new description.
func (b *bar) set(f float64, desc string) {
	if b == nil {
		return
	}
	if desc != "" {
		b.pb.Describe(desc)
	}
	b.pb.Set(int(min(max(f, 0), 1) * barSteps))
}

// reader counts bytes read through it on a bytes bar.
func (b *bar) reader(r io.Reader) io.Reader {
	if b == nil {
		return r
	}
	return io.TeeReader(r, b.pb)
}

// done removes the bar from the terminal.
func (b *bar) done() {
	if b == nil {
		return
	}
	b.pb.Clear()
	b.pb.Exit()
}
