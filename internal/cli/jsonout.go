package cli

import (
	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/httpapi"
	"github.com/audex/audex/internal/timefmt"
)

// The --json output of probe and extract: extract's Info and Result with
// every time in seconds, a JSON number such as 2.5 (timefmt.SecondsFloat),
// as the HTTP API gives them, under the HTTP API's field names (its probe
// answer, a job's metadata.input and metadata.output). The Go API keeps
// time.Duration.

// trackJSON is an extract.AudioTrack.
type trackJSON struct {
	Track         int     `json:"track"`
	Index         int     `json:"index"`
	Codec         string  `json:"codec"`
	Profile       string  `json:"profile,omitempty"`
	SampleRate    int     `json:"sample_rate"`
	Channels      int     `json:"channels"`
	ChannelLayout string  `json:"channel_layout,omitempty"`
	Bitrate       int64   `json:"bitrate,omitempty"`
	Language      string  `json:"language,omitempty"`
	Title         string  `json:"title,omitempty"`
	Start         float64 `json:"start"`
	Duration      float64 `json:"duration"`
	Default       bool    `json:"default,omitempty"`
}

func newTrackJSON(t extract.AudioTrack) trackJSON {
	return trackJSON{
		Track: t.Track, Index: t.Index, Codec: t.Codec, Profile: t.Profile,
		SampleRate: t.SampleRate, Channels: t.Channels, ChannelLayout: t.ChannelLayout,
		Bitrate: t.Bitrate, Language: t.Language, Title: t.Title,
		Start: timefmt.SecondsFloat(t.Start), Duration: timefmt.SecondsFloat(t.Duration), Default: t.Default,
	}
}

// probeJSON is an extract.Info.
type probeJSON struct {
	Container         string         `json:"container"`
	ContainerLongName string         `json:"container_long_name,omitempty"`
	Duration          float64        `json:"duration"`
	Bitrate           int64          `json:"bitrate,omitempty"`
	Streams           int            `json:"streams"`
	AudioTracks       []trackJSON    `json:"audio_tracks"`
	BestTrack         int            `json:"best_track"`
	Peaks             *httpapi.Peaks `json:"peaks,omitempty"`
}

func newProbeJSON(in *extract.Info) probeJSON {
	p := probeJSON{
		Container: in.Container, ContainerLongName: in.ContainerLongName,
		Duration: timefmt.SecondsFloat(in.Duration), Bitrate: in.Bitrate, Streams: in.Streams,
		AudioTracks: []trackJSON{}, BestTrack: in.BestTrack,
	}
	for _, t := range in.AudioTracks {
		p.AudioTracks = append(p.AudioTracks, newTrackJSON(t))
	}
	return p
}

// resultJSON is an extract.Result.
type resultJSON struct {
	Format        extract.Format `json:"format"`
	Codec         string         `json:"codec"`
	SampleRate    int            `json:"sample_rate"`
	Channels      int            `json:"channels"`
	ChannelLayout string         `json:"channel_layout"`
	Bitrate       int64          `json:"bitrate"`
	Start         float64        `json:"start"`
	StartSample   int64          `json:"start_sample"`
	Duration      float64        `json:"duration"`
	Samples       int64          `json:"samples"`
	Bytes         int64          `json:"bytes"`
	EncoderDelay  int            `json:"encoder_delay"`
	Copied        bool           `json:"copied"`
	DecodeErrors  int            `json:"decode_errors,omitempty"`
	Truncated     bool           `json:"truncated,omitempty"`
	Input         trackJSON      `json:"input"`
}

func newResultJSON(r *extract.Result) resultJSON {
	return resultJSON{
		Format: r.Format, Codec: r.Codec, SampleRate: r.SampleRate, Channels: r.Channels,
		ChannelLayout: r.ChannelLayout, Bitrate: r.Bitrate,
		Start: timefmt.SecondsFloat(r.Start), StartSample: r.StartSample,
		Duration: timefmt.SecondsFloat(r.Duration), Samples: r.Samples,
		Bytes: r.Bytes, EncoderDelay: r.EncoderDelay, Copied: r.Copied,
		DecodeErrors: r.DecodeErrors, Truncated: r.Truncated, Input: newTrackJSON(r.Input),
	}
}
