package extract

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/asticode/go-astiav"
)

// FFmpeg's log callback is process-global. It is installed once, on first
// use; each line is attributed to the extraction whose FFmpeg object logged
// it and goes to that extraction's Options.Logger. Lines from objects audex
// does not own (or with no Logger) are dropped.

var (
	logOnce  sync.Once
	logSinks sync.Map // astiav.Classer -> *slog.Logger
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
		astiav.SetLogCallback(func(c astiav.Classer, l astiav.LogLevel, _, msg string) {
			if c == nil {
				return
			}
			v, ok := logSinks.Load(c)
			if !ok {
				return
			}
			sk := v.(*sink)
			if l <= astiav.LogLevelError {
				sk.last.Store(strings.TrimSpace(msg))
			}
			lg := sk.lg
			if lg == nil {
				return
			}
			level := slog.LevelDebug
			switch {
			case l <= astiav.LogLevelError:
				level = slog.LevelError
			case l <= astiav.LogLevelWarning:
				level = slog.LevelWarn
			case l <= astiav.LogLevelInfo:
				level = slog.LevelInfo
			}
			name := ""
			if cl := c.Class(); cl != nil {
				name = cl.Name()
			}
			lg.Log(context.Background(), level, strings.TrimSpace(msg), "ffmpeg", name)
		})
		installed.Store(true)
	})
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

// attach routes FFmpeg lines logged by obj to a sink until the returned func
// runs.
func attach(lg *slog.Logger, obj astiav.Classer) (*sink, func()) {
	s := &sink{lg: lg}
	logSinks.Store(obj, s)
	return s, func() { logSinks.Delete(obj) }
}
