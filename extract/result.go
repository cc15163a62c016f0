package extract

import "time"

// Info describes an input, as Probe finds it without decoding.
type Info struct {
	// Container is FFmpeg's short name of the demuxer, e.g. "mov,mp4,m4a,3gp,3g2,mj2".
	Container string `json:"container"`
	// ContainerLongName is FFmpeg's descriptive name of the demuxer.
	ContainerLongName string `json:"container_long_name"`
	// Duration of the whole input, 0 when unknown.
	Duration time.Duration `json:"duration"`
	// Bitrate of the whole input in bits per second, 0 when unknown.
	Bitrate int64 `json:"bitrate,omitempty"`
	// Streams is the number of streams of any kind.
	Streams int `json:"streams"`
	// AudioTracks lists the audio streams in container order.
	AudioTracks []AudioTrack `json:"audio_tracks"`
	// BestTrack is the Track number FFmpeg would pick, 0 when there is no
	// audio.
	BestTrack int `json:"best_track"`
}

// AudioTrack describes one audio stream of an input.
type AudioTrack struct {
	// Track is the 1-based number among audio tracks (what Options.Track takes).
	Track int `json:"track"`
	// Index is the stream's index in the container.
	Index int `json:"index"`
	// Codec is FFmpeg's codec name, e.g. "aac".
	Codec string `json:"codec"`
	// Profile is the codec profile when known, e.g. "LC".
	Profile string `json:"profile,omitempty"`
	// SampleRate in Hz.
	SampleRate int `json:"sample_rate"`
	// Channels is the channel count.
	Channels int `json:"channels"`
	// ChannelLayout describes the layout, e.g. "stereo" or "5.1".
	ChannelLayout string `json:"channel_layout,omitempty"`
	// Bitrate in bits per second, 0 when unknown.
	Bitrate int64 `json:"bitrate,omitempty"`
	// Language is the ISO 639 tag, empty when untagged.
	Language string `json:"language,omitempty"`
	// Title is the stream's title tag.
	Title string `json:"title,omitempty"`
	// Start is where the track begins on the input's presentation timeline.
	Start time.Duration `json:"start"`
	// Duration of the track, 0 when unknown.
	Duration time.Duration `json:"duration"`
	// Default reports the container's default-track flag.
	Default bool `json:"default,omitempty"`
}

// Result describes a finished extraction.
type Result struct {
	// Format of the output.
	Format Format `json:"format"`
	// Codec is the output codec's FFmpeg name.
	Codec string `json:"codec"`
	// SampleRate of the output in Hz.
	SampleRate int `json:"sample_rate"`
	// Channels of the output.
	Channels int `json:"channels"`
	// ChannelLayout of the output, e.g. "stereo".
	ChannelLayout string `json:"channel_layout"`
	// Bitrate of the output in bits per second (nominal for lossy codecs,
	// measured for lossless ones).
	Bitrate int64 `json:"bitrate"`

	// Start is where the output begins on the input's timeline.
	Start time.Duration `json:"start"`
	// StartSample is Start in samples at the output rate.
	StartSample int64 `json:"start_sample"`
	// Duration of the output audio as a decoder plays it back.
	Duration time.Duration `json:"duration"`
	// Samples is Duration in samples at the output rate.
	Samples int64 `json:"samples"`

	// Bytes written to the output.
	Bytes int64 `json:"bytes"`
	// EncoderDelay is the encoder's priming in samples; audex signals it in
	// the container (mp3, m4a, ogg) or compensates it (aac, ac3, amr, wma).
	EncoderDelay int `json:"encoder_delay"`
	// Copied reports that packets were copied without re-encoding.
	Copied bool `json:"copied"`
	// DecodeErrors counts packets the decoder rejected and concealed.
	DecodeErrors int `json:"decode_errors,omitempty"`
	// Truncated reports that the input ended early, cut short or damaged:
	// the output holds the audio up to that point, as a player would play.
	Truncated bool `json:"truncated,omitempty"`

	// Input is the track that was extracted.
	Input AudioTrack `json:"input"`
}
