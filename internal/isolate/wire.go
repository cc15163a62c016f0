package isolate

import (
	"time"

	"github.com/audex/audex/extract"
)

// wireOptions is extract.Options as the protocol sends it (see
// protocolVersion). Progress and Logger are not data: the protocol carries
// them as messages of their own.
type wireOptions struct {
	Format      string        `json:"format,omitempty"`
	Start       time.Duration `json:"start,omitempty"`
	Duration    time.Duration `json:"duration,omitempty"`
	Track       int           `json:"track,omitempty"`
	Language    string        `json:"language,omitempty"`
	SampleRate  int           `json:"sample_rate,omitempty"`
	Channels    int           `json:"channels,omitempty"`
	Bitrate     int           `json:"bitrate,omitempty"`
	Copy        string        `json:"copy,omitempty"`
	Parallelism int           `json:"parallelism,omitempty"`
	Limits      wireLimits    `json:"limits"`
}

type wireLimits struct {
	ProbeSize         int64         `json:"probe_size,omitempty"`
	AnalyzeDuration   time.Duration `json:"analyze_duration,omitempty"`
	MaxStreams        int           `json:"max_streams,omitempty"`
	MaxOutputDuration time.Duration `json:"max_output_duration,omitempty"`
	MaxOutputBytes    int64         `json:"max_output_bytes,omitempty"`
	DecoderThreads    int           `json:"decoder_threads,omitempty"`
	MaxSampleRate     int           `json:"max_sample_rate,omitempty"`
	MaxChannels       int           `json:"max_channels,omitempty"`
}

// wireResult is extract.Result as the protocol sends it.
type wireResult struct {
	Format        string        `json:"format"`
	Codec         string        `json:"codec"`
	SampleRate    int           `json:"sample_rate"`
	Channels      int           `json:"channels"`
	ChannelLayout string        `json:"channel_layout"`
	Bitrate       int64         `json:"bitrate"`
	Start         time.Duration `json:"start"`
	StartSample   int64         `json:"start_sample"`
	Duration      time.Duration `json:"duration"`
	Samples       int64         `json:"samples"`
	Bytes         int64         `json:"bytes"`
	EncoderDelay  int           `json:"encoder_delay"`
	Copied        bool          `json:"copied"`
	DecodeErrors  int           `json:"decode_errors,omitempty"`
	Truncated     bool          `json:"truncated,omitempty"`
	Input         wireTrack     `json:"input"`
}

type wireTrack struct {
	Track         int           `json:"track"`
	Index         int           `json:"index"`
	Codec         string        `json:"codec"`
	Profile       string        `json:"profile,omitempty"`
	SampleRate    int           `json:"sample_rate"`
	Channels      int           `json:"channels"`
	ChannelLayout string        `json:"channel_layout,omitempty"`
	Bitrate       int64         `json:"bitrate,omitempty"`
	Language      string        `json:"language,omitempty"`
	Title         string        `json:"title,omitempty"`
	Start         time.Duration `json:"start"`
	Duration      time.Duration `json:"duration"`
	Default       bool          `json:"default,omitempty"`
}

func toWireOptions(o extract.Options) *wireOptions {
	return &wireOptions{
		Format: string(o.Format), Start: o.Start, Duration: o.Duration, Track: o.Track, Language: o.Language,
		SampleRate: o.SampleRate, Channels: o.Channels, Bitrate: o.Bitrate, Copy: string(o.Copy),
		Parallelism: o.Parallelism, Limits: wireLimits(o.Limits),
	}
}

func (o *wireOptions) options() extract.Options {
	return extract.Options{
		Format: extract.Format(o.Format), Start: o.Start, Duration: o.Duration, Track: o.Track, Language: o.Language,
		SampleRate: o.SampleRate, Channels: o.Channels, Bitrate: o.Bitrate, Copy: extract.CopyMode(o.Copy),
		Parallelism: o.Parallelism, Limits: extract.Limits(o.Limits),
	}
}

func toWireResult(r *extract.Result) *wireResult {
	if r == nil {
		return nil
	}
	return &wireResult{
		Format: string(r.Format), Codec: r.Codec, SampleRate: r.SampleRate, Channels: r.Channels,
		ChannelLayout: r.ChannelLayout, Bitrate: r.Bitrate, Start: r.Start, StartSample: r.StartSample,
		Duration: r.Duration, Samples: r.Samples, Bytes: r.Bytes, EncoderDelay: r.EncoderDelay,
		Copied: r.Copied, DecodeErrors: r.DecodeErrors, Truncated: r.Truncated, Input: wireTrack(r.Input),
	}
}

func (r *wireResult) result() *extract.Result {
	return &extract.Result{
		Format: extract.Format(r.Format), Codec: r.Codec, SampleRate: r.SampleRate, Channels: r.Channels,
		ChannelLayout: r.ChannelLayout, Bitrate: r.Bitrate, Start: r.Start, StartSample: r.StartSample,
		Duration: r.Duration, Samples: r.Samples, Bytes: r.Bytes, EncoderDelay: r.EncoderDelay,
		Copied: r.Copied, DecodeErrors: r.DecodeErrors, Truncated: r.Truncated, Input: extract.AudioTrack(r.Input),
	}
}
