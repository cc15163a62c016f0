package extract

//#cgo pkg-config: libavutil
//#include <stdlib.h>
//void audex_set_log_callback(void);
import "C"

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// FFmpeg's log callback is process-global. It is installed once, on first
// use; each line is attributed to the extraction whose FFmpeg object (format
// or codec context) logged it, through the object's C address, and goes to
// that extraction's Options.Logger; the last error line is also kept to
// explain a failure. Lines from objects audex does not own are dropped.

var (
	logOnce  sync.Once
	logSinks sync.Map // uintptr (C object) -> *sink
	logLevel atomic.Int32
)

func init() { logLevel.Store(int32(astiav.LogLevelWarning)) }

// SetFFmpegLogLevel sets how verbose FFmpeg's messages to Options.Logger are:
// slog.LevelDebug passes FFmpeg's verbose lines, slog.LevelInfo its info
// lines, slog.LevelWarn (the default) warnings and errors, slog.LevelError
// errors only. It is process-wide, like FFmpeg's own log level.
func SetFFmpegLogLevel(l slog.Level) {
	lvl := astiav.LogLevelWarning
	switch {
	case l <= slog.LevelDebug:
		lvl = astiav.LogLevelVerbose
	case l <= slog.LevelInfo:
		lvl = astiav.LogLevelInfo
	case l >= slog.LevelError:
		lvl = astiav.LogLevelError
	}
	logLevel.Store(int32(lvl))
	if installed.Load() {
		astiav.SetLogLevel(lvl)
	}
}

var installed atomic.Bool

func installLog() {
	logOnce.Do(func() {
		astiav.SetLogLevel(astiav.LogLevel(logLevel.Load()))
		C.audex_set_log_callback()
		installed.Store(true)
	})
}

//export audexLogLine
func audexLogLine(ptr unsafe.Pointer, level C.int, class, msg *C.char) {
	v, ok := logSinks.Load(uintptr(ptr))
	if !ok {
		return
	}
	sk := v.(*sink)
	l := astiav.LogLevel(level)
	text := strings.TrimSpace(C.GoString(msg))
	if l <= astiav.LogLevelError {
		sk.last.Store(text)
	}
	if sk.lg == nil {
		return
	}
	lv := slog.LevelDebug
	switch {
	case l <= astiav.LogLevelError:
		lv = slog.LevelError
	case l <= astiav.LogLevelWarning:
		lv = slog.LevelWarn
	case l <= astiav.LogLevelInfo:
		lv = slog.LevelInfo
	}
	sk.lg.Log(context.Background(), lv, text, "ffmpeg", C.GoString(class))
}

// sink receives the lines one FFmpeg object logs: they go to the
// extraction's logger, and the last error is kept to explain a failure.
type sink struct {
	lg   *slog.Logger
	last atomic.Value // string
}

// lastError is the last error line FFmpeg logged through this sink.
func (s *sink) lastError() string {
	v, _ := s.last.Load().(string)
	return v
}

// said is " (FFmpeg's last error line)" for an error message, or "" when
// the sink has none.
func said(s *sink) string {
	if s == nil || s.lastError() == "" {
		return ""
	}
	return " (" + s.lastError() + ")"
}

// attach routes FFmpeg lines logged by the C object at obj to a sink until
// the returned func runs.
func attach(lg *slog.Logger, obj unsafe.Pointer) (*sink, func()) {
	s := &sink{lg: lg}
	logSinks.Store(uintptr(obj), s)
	return s, func() { logSinks.Delete(uintptr(obj)) }
}

// formatContextPtr is fc's C address. go-astiav v0.39.0 exposes none for a
// format context; its FormatContext struct holds exactly that pointer as its
// only field (TestLogAttribution fails if the layout changes).
func formatContextPtr(fc *astiav.FormatContext) unsafe.Pointer {
	return unsafe.Pointer(*(**C.char)(unsafe.Pointer(fc)))
}
