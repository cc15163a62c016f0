package isolate

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/audex/audex/extract"
)

// The protocol: one JSON object per line in each direction.
//
//	isolate → parent  {"type":"ready","version":1,"pid":…,"memory_limit":…}   once, at start
//	parent → isolate  {"type":"job","id":7,"src":…,"dst":…,"options":{…},"progress":true}
//	isolate → parent  {"type":"progress","id":7,"done":…,"total":…}            zero or more
//	isolate → parent  {"type":"log","id":7,"level":"WARN","msg":…,"attrs":[…]}  zero or more
//	parent → isolate  {"type":"cancel","id":7}                                 optional
//	isolate → parent  {"type":"done","id":7,"result":{…}} or {…,"error":{…}}   exactly one
//
// An isolate runs one job at a time; the parent sends the next job only after
// the previous one's "done". Closing the isolate's stdin cancels any running
// job and ends the isolate.
//
// The messages are the protocol's own types, apart from the library's:
// options and result travel as wireOptions and wireResult, converted in
// one place (toWireOptions and friends), so that a change to
// extract.Options or extract.Result changes the protocol only on purpose,
// with protocolVersion. A parent refuses an isolate of another version.
// Version 2: the wire types (version 1 sent extract's types as they were).
// Version 3: options carry Parallelism (the job manager's choice; without
// it an isolate would encode on every core, workers busy or not).
const protocolVersion = 3

// maxLine bounds one protocol line. Replies are small; a longer line means a
// broken or compromised isolate, never a reason to buffer without end.
const maxLine = 1 << 20

const (
	msgReady    = "ready"
	msgJob      = "job"
	msgCancel   = "cancel"
	msgProgress = "progress"
	msgLog      = "log"
	msgDone     = "done"
)

// request is a parent → isolate message.
type request struct {
	Type     string       `json:"type"`
	ID       uint64       `json:"id"`
	Src      string       `json:"src,omitempty"`
	Dst      string       `json:"dst,omitempty"`
	Options  *wireOptions `json:"options,omitempty"`
	Progress bool         `json:"progress,omitempty"`
	// LogLevel, when set, asks for the job's log records (Options.Logger)
	// at this level and above.
	LogLevel *slog.Level `json:"log_level,omitempty"`
}

// reply is an isolate → parent message.
type reply struct {
	Type string `json:"type"`
	ID   uint64 `json:"id,omitempty"`

	// ready
	Version     int   `json:"version,omitempty"`
	PID         int   `json:"pid,omitempty"`
	MemoryLimit int64 `json:"memory_limit,omitempty"`

	// progress
	Done  time.Duration `json:"done,omitempty"`
	Total time.Duration `json:"total,omitempty"`

	// log
	Level slog.Level `json:"level,omitempty"`
	Msg   string     `json:"msg,omitempty"`
	Attrs []logAttr  `json:"attrs,omitempty"`

	// done
	Result *wireResult `json:"result,omitempty"`
	Error  *wireError  `json:"error,omitempty"`
}

// logAttr is one attribute of a forwarded log record.
type logAttr struct {
	Key   string `json:"k"`
	Value any    `json:"v"`
}

// logHandler sends a job's log records to the parent.
type logHandler struct {
	out    *lineWriter
	id     uint64
	level  slog.Level
	attrs  []logAttr
	prefix string // of open groups, "a.b."
}

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	attrs := append([]logAttr(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		attrs = h.appendAttr(attrs, h.prefix, a)
		return true
	})
	return h.out.send(reply{Type: msgLog, ID: h.id, Level: r.Level, Msg: r.Message, Attrs: attrs})
}

func (h *logHandler) appendAttr(attrs []logAttr, prefix string, a slog.Attr) []logAttr {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, g := range v.Group() {
			attrs = h.appendAttr(attrs, prefix, g)
		}
		return attrs
	}
	if a.Key == "" {
		return attrs
	}
	val := v.Any()
	if err, ok := val.(error); ok {
		val = err.Error()
	}
	return append(attrs, logAttr{Key: prefix + a.Key, Value: val})
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append([]logAttr(nil), h.attrs...)
	for _, a := range as {
		n.attrs = h.appendAttr(n.attrs, h.prefix, a)
	}
	return &n
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.prefix += name + "."
	return &n
}

// minLevel returns the lowest level lg logs, or nil when it logs nothing.
func minLevel(ctx context.Context, lg *slog.Logger) *slog.Level {
	if lg == nil {
		return nil
	}
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		if lg.Enabled(ctx, l) {
			return &l
		}
	}
	return nil
}

// wireError carries an error across the process boundary: its message and
// the stable names of every sentinel it matches, so that errors.Is gives the
// same answers on the parent's side.
type wireError struct {
	Kinds   []string `json:"kinds,omitempty"`
	Message string   `json:"message"`
}

// errorKinds are the sentinels that survive the boundary, by stable name.
// Names are part of the protocol: add, never rename.
var errorKinds = []struct {
	kind string
	err  error
}{
	{"no_audio", extract.ErrNoAudio},
	{"track_not_found", extract.ErrTrackNotFound},
	{"unrecognized_input", extract.ErrUnrecognizedInput},
	{"invalid_input", extract.ErrInvalidInput},
	{"unsupported_input", extract.ErrUnsupportedInput},
	{"encrypted", extract.ErrEncrypted},
	{"too_many_streams", extract.ErrTooManyStreams},
	{"unsupported_format", extract.ErrUnsupportedFormat},
	{"unsupported_option", extract.ErrUnsupportedOption},
	{"start_beyond_end", extract.ErrStartBeyondEnd},
	{"output_limit", extract.ErrOutputLimit},
	{"canceled", extract.ErrCanceled},
	{"output", extract.ErrOutput},
	{"output_is_input", extract.ErrOutputIsInput},
	{"context_canceled", context.Canceled},
	{"deadline_exceeded", context.DeadlineExceeded},
	{"no_space", syscall.ENOSPC},
	{"quota_exceeded", syscall.EDQUOT},
	{"not_exist", fs.ErrNotExist},
	{"permission", fs.ErrPermission},
}

func encodeError(err error) *wireError {
	if err == nil {
		return nil
	}
	w := &wireError{Message: err.Error()}
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			w.Kinds = append(w.Kinds, k.kind)
		}
	}
	return w
}

// decode rebuilds the error. Unknown kinds (from a newer isolate) are
// dropped: the message still tells what happened.
func (w *wireError) decode() error {
	e := &remoteError{msg: w.Message}
	for _, name := range w.Kinds {
		for _, k := range errorKinds {
			if k.kind == name {
				e.errs = append(e.errs, k.err)
			}
		}
	}
	return e
}

// remoteError is an error that happened in an isolate process. It keeps the
// isolate's message and matches the same sentinels the original did.
type remoteError struct {
	msg  string
	errs []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.errs }

// lineWriter writes protocol messages, one per line, from several
// goroutines.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (lw *lineWriter) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("isolate: encode message: %w", err)
	}
	b = append(b, '\n')
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if _, err := lw.w.Write(b); err != nil {
		return fmt.Errorf("isolate: write message: %w", err)
	}
	return nil
}

// newLineScanner reads protocol lines of at most maxLine bytes.
func newLineScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	return sc
}
