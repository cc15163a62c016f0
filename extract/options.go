package extract

import (
	"fmt"
	"log/slog"
	"runtime"
	"time"
)

// Options configure one extraction. The zero value (and a nil *Options)
// extracts the whole of FFmpeg's best audio track at the source's rate and
// channel count where the format allows them: to MP3 with Extract, to the
// format the destination's extension names with ExtractFile.
type Options struct {
	// Format is the output format. Defaults to MP3 for Extract.
	// ExtractFile infers it from the destination's extension when empty,
	// and fails with ErrUnsupportedFormat when that names no format.
	Format Format `json:"format,omitempty"`

	// Start is where the output begins on the input's presentation timeline
	// (0 is the start of the file, as a player shows it). Defaults to 0.
	Start time.Duration `json:"start,omitempty"`
	// Duration is how much audio to extract. 0 means to the end of the
	// audio; otherwise it is at least MinDuration.
	Duration time.Duration `json:"duration,omitempty"`

	// Track selects an audio track by its 1-based number among the input's
	// audio tracks (AudioTrack.Track in Probe's answer). 0 means FFmpeg's
	// best audio track, or the first in Language when that is set.
	Track int `json:"track,omitempty"`
	// Language selects the first audio track tagged with this ISO 639
	// language code. The forms of one language are equal: ISO 639-1 "de",
	// ISO 639-2/T "deu" and 639-2/B "ger" (Matroska's) all select German.
	// Empty means any.
	Language string `json:"language,omitempty"`

	// SampleRate of the output in Hz. 0 keeps the source rate when the
	// encoder accepts it, else the nearest rate it does (AMR: always 8000).
	SampleRate int `json:"sample_rate,omitempty"`
	// Channels of the output. 0 keeps the source layout when the encoder
	// accepts it, else downmixes to the nearest it does (stereo for MP3,
	// mono for AMR). Asking for more than the encoder can hold is
	// ErrUnsupportedOption.
	Channels int `json:"channels,omitempty"`
	// Bitrate in bits per second for lossy encoders. 0 means the encoder's
	// default for the channel count (MP3 and AAC: 64 kbit/s per channel,
	// capped at 320 kbit/s; AMR: 12.2 kbit/s).
	Bitrate int `json:"bitrate,omitempty"`

	// Copy says whether packets may be copied without re-encoding. Defaults
	// to CopyAuto.
	Copy CopyMode `json:"copy,omitempty"`

	// Parallelism is how many encoders may run at once on one output:
	// outputs of at least 30 s in MP3, AAC, M4A, AC-3, WMA and FLAC are
	// cut into segments encoded side by side and joined into the one
	// gapless stream of the exact length asked for (Vorbis, Opus, AMR and
	// WAV keep one encoder). 0 means runtime.GOMAXPROCS; 1 keeps one
	// encoder.
	Parallelism int `json:"parallelism,omitempty"`

	// Progress, when set, is called from the extracting goroutine each time
	// the output advances by at least 1% (and once at the end). It must not
	// block for long.
	Progress func(Progress) `json:"-"`

	// Logger receives FFmpeg's messages about this extraction (see
	// SetFFmpegLogLevel). Nil drops them.
	Logger *slog.Logger `json:"-"`

	// Limits bound the work done on hostile input. Zero fields take the
	// documented defaults.
	Limits Limits `json:"limits"`
}

// Progress reports how far an extraction has come.
type Progress struct {
	// Done is the output audio written so far.
	Done time.Duration
	// Total is the expected output duration, or 0 when unknown.
	Total time.Duration
}

// Fraction returns Done/Total clamped to [0, 1], or 0 when Total is unknown.
func (p Progress) Fraction() float64 {
	if p.Total <= 0 {
		return 0
	}
	f := float64(p.Done) / float64(p.Total)
	return min(max(f, 0), 1)
}

// Limits bound what one extraction may cost. Zero fields mean the default.
type Limits struct {
	// ProbeSize is how many bytes FFmpeg may read to identify streams.
	// Defaults to 5 MB.
	ProbeSize int64 `json:"probe_size,omitempty"`
	// AnalyzeDuration is how much media FFmpeg may read to identify streams.
	// Defaults to 5 s.
	AnalyzeDuration time.Duration `json:"analyze_duration,omitempty"`
	// MaxStreams is the most streams an input may declare. Defaults to 1000.
	MaxStreams int `json:"max_streams,omitempty"`
	// MaxOutputDuration caps the output audio. Defaults to 6 hours.
	MaxOutputDuration time.Duration `json:"max_output_duration,omitempty"`
	// MaxOutputBytes caps the output size. Defaults to 2 GiB.
	MaxOutputBytes int64 `json:"max_output_bytes,omitempty"`
	// DecoderThreads bounds the decoder's threads. Defaults to 1: run
	// several extractions in parallel for throughput.
	DecoderThreads int `json:"decoder_threads,omitempty"`
	// MaxSampleRate is the highest input sample rate accepted. Defaults to
	// 768000 Hz.
	MaxSampleRate int `json:"max_sample_rate,omitempty"`
	// MaxChannels is the most input channels accepted. Defaults to 64.
	MaxChannels int `json:"max_channels,omitempty"`
}

// MinDuration is the shortest Duration accepted: 8 samples at the lowest
// output rate (AMR's 8 kHz), where a shorter duration could round to no
// sample at all.
const MinDuration = time.Millisecond

// Default limits.
const (
	DefaultProbeSize         = 5_000_000
	DefaultAnalyzeDuration   = 5 * time.Second
	DefaultMaxStreams        = 1000
	DefaultMaxOutputDuration = 6 * time.Hour
	DefaultMaxOutputBytes    = 2 << 30
	DefaultDecoderThreads    = 1
	DefaultMaxSampleRate     = 768_000
	DefaultMaxChannels       = 64
)

func (l Limits) withDefaults() Limits {
	def := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	defi := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.ProbeSize, DefaultProbeSize)
	def(&l.MaxOutputBytes, DefaultMaxOutputBytes)
	defi(&l.MaxStreams, DefaultMaxStreams)
	defi(&l.DecoderThreads, DefaultDecoderThreads)
	defi(&l.MaxSampleRate, DefaultMaxSampleRate)
	defi(&l.MaxChannels, DefaultMaxChannels)
	if l.AnalyzeDuration <= 0 {
		l.AnalyzeDuration = DefaultAnalyzeDuration
	}
	if l.MaxOutputDuration <= 0 {
		l.MaxOutputDuration = DefaultMaxOutputDuration
	}
	return l
}

// normalized returns a copy with defaults filled in, or an error for options
// that can never work.
func (o *Options) normalized() (Options, error) {
	var n Options
	if o != nil {
		n = *o
	}
	if n.Format == "" {
		n.Format = MP3
	}
	if !n.Format.valid() {
		return n, fmt.Errorf("%w: %q", ErrUnsupportedFormat, string(n.Format))
	}
	if n.Copy == "" {
		n.Copy = CopyAuto
	}
	if _, err := ParseCopyMode(string(n.Copy)); err != nil {
		return n, err
	}
	switch {
	case n.Start < 0:
		return n, fmt.Errorf("%w: negative start %v", ErrUnsupportedOption, n.Start)
	case n.Duration < 0:
		return n, fmt.Errorf("%w: negative duration %v", ErrUnsupportedOption, n.Duration)
	case n.Duration > 0 && n.Duration < MinDuration:
		return n, fmt.Errorf("%w: duration %v is shorter than the %v minimum", ErrUnsupportedOption, n.Duration, MinDuration)
	case n.Track < 0:
		return n, fmt.Errorf("%w: negative track %d", ErrUnsupportedOption, n.Track)
	case n.SampleRate < 0 || n.SampleRate > 384_000:
		return n, fmt.Errorf("%w: sample rate %d", ErrUnsupportedOption, n.SampleRate)
	case n.Channels < 0 || n.Channels > 8:
		return n, fmt.Errorf("%w: %d channels", ErrUnsupportedOption, n.Channels)
	case n.Bitrate < 0 || n.Bitrate > 2_000_000:
		return n, fmt.Errorf("%w: bitrate %d", ErrUnsupportedOption, n.Bitrate)
	case n.Parallelism < 0:
		return n, fmt.Errorf("%w: parallelism %d", ErrUnsupportedOption, n.Parallelism)
	}
	if n.Parallelism == 0 {
		n.Parallelism = runtime.GOMAXPROCS(0)
	}
	n.Limits = n.Limits.withDefaults()
	if n.Duration > n.Limits.MaxOutputDuration {
		return n, fmt.Errorf("%w: duration %v over the %v limit", ErrOutputLimit, n.Duration, n.Limits.MaxOutputDuration)
	}
	return n, nil
}
