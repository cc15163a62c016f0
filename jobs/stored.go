package jobs

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/audex/audex/extract"
)

// The stored form of a record: the store's schema, apart from the library's
// types. Request, Output, Error and extract.Options may change their fields
// and tags as the API needs; what is on disk changes only here, with
// recordVersion, and every version ever written keeps decoding
// (TestStoredRecordsLoad reads records of version 1 from testdata).
// toStored and fromStored are the one place that converts.
//
// Version 1 is the format written before the version field existed: a
// record without "v" is version 1.
const recordVersion = 1

type storedRecord struct {
	Version    int           `json:"v,omitempty"`
	ID         string        `json:"id"`
	Seq        uint64        `json:"seq"`
	State      State         `json:"state"`
	Attempts   int           `json:"attempts"`
	Crashes    int           `json:"crashes"`
	CreatedAt  time.Time     `json:"created_at"`
	StartedAt  time.Time     `json:"started_at,omitzero"`
	FinishedAt time.Time     `json:"finished_at,omitzero"`
	ExpiresAt  time.Time     `json:"expires_at,omitzero"`
	Request    storedRequest `json:"request"`
	InputBytes int64         `json:"input_bytes"`
	HaveInput  bool          `json:"have_input"`
	Error      *storedError  `json:"error,omitempty"`
	Result     *storedOutput `json:"result,omitempty"`
	Notice     *notice       `json:"notice,omitempty"`
}

type storedRequest struct {
	Options    storedOptions `json:"options"`
	URL        string        `json:"url,omitempty"`
	Persistent bool          `json:"persistent"`
	Retention  time.Duration `json:"retention,omitempty"`
	Owner      string        `json:"owner,omitempty"`
	Name       string        `json:"name,omitempty"`
	Notify     string        `json:"notify,omitempty"`
}

type storedOptions struct {
	Format     string        `json:"format,omitempty"`
	Start      time.Duration `json:"start,omitempty"`
	Duration   time.Duration `json:"duration,omitempty"`
	Track      int           `json:"track,omitempty"`
	Language   string        `json:"language,omitempty"`
	SampleRate int           `json:"sample_rate,omitempty"`
	Channels   int           `json:"channels,omitempty"`
	Bitrate    int           `json:"bitrate,omitempty"`
	Copy       string        `json:"copy,omitempty"`
	Limits     storedLimits  `json:"limits"`
}

type storedLimits struct {
	ProbeSize         int64         `json:"probe_size,omitempty"`
	AnalyzeDuration   time.Duration `json:"analyze_duration,omitempty"`
	MaxStreams        int           `json:"max_streams,omitempty"`
	MaxOutputDuration time.Duration `json:"max_output_duration,omitempty"`
	MaxOutputBytes    int64         `json:"max_output_bytes,omitempty"`
	DecoderThreads    int           `json:"decoder_threads,omitempty"`
	MaxSampleRate     int           `json:"max_sample_rate,omitempty"`
	MaxChannels       int           `json:"max_channels,omitempty"`
}

type storedError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type storedOutput struct {
	Size     int64                `json:"size"`
	Format   string               `json:"format"`
	Duration time.Duration        `json:"duration"`
	Extract  *storedExtractReport `json:"extract,omitempty"`
}

type storedExtractReport struct {
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
	Input         storedTrack   `json:"input"`
}

type storedTrack struct {
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

// encodeRecord is the stored form of r.
func encodeRecord(r *record) ([]byte, error) {
	return json.Marshal(toStored(r))
}

// decodeRecord reads a stored record of any version written so far.
func decodeRecord(data []byte) (*record, error) {
	var s storedRecord
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	if s.Version > recordVersion {
		return nil, fmt.Errorf("record version %d is newer than this program's %d", s.Version, recordVersion)
	}
	return fromStored(&s), nil
}

func toStored(r *record) *storedRecord {
	s := &storedRecord{
		Version: recordVersion, ID: r.ID, Seq: r.Seq, State: r.State, Attempts: r.Attempts, Crashes: r.Crashes,
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, ExpiresAt: r.ExpiresAt,
		InputBytes: r.InputBytes, HaveInput: r.HaveInput, Notice: r.Notice,
	}
	q, o := r.Request, r.Request.Options
	s.Request = storedRequest{URL: q.URL, Persistent: q.Persistent, Retention: q.Retention, Owner: q.Owner, Name: q.Name, Notify: q.Notify,
		Options: storedOptions{
			Format: string(o.Format), Start: o.Start, Duration: o.Duration, Track: o.Track, Language: o.Language,
			SampleRate: o.SampleRate, Channels: o.Channels, Bitrate: o.Bitrate, Copy: string(o.Copy),
			Limits: storedLimits(o.Limits),
		}}
	if r.Error != nil {
		s.Error = &storedError{Code: r.Error.Code, Message: r.Error.Message}
	}
	if out := r.Result; out != nil {
		s.Result = &storedOutput{Size: out.Size, Format: string(out.Format), Duration: out.Duration}
		if x := out.Extract; x != nil {
			s.Result.Extract = &storedExtractReport{
				Format: string(x.Format), Codec: x.Codec, SampleRate: x.SampleRate, Channels: x.Channels,
				ChannelLayout: x.ChannelLayout, Bitrate: x.Bitrate, Start: x.Start, StartSample: x.StartSample,
				Duration: x.Duration, Samples: x.Samples, Bytes: x.Bytes, EncoderDelay: x.EncoderDelay,
				Copied: x.Copied, DecodeErrors: x.DecodeErrors, Truncated: x.Truncated, Input: storedTrack(x.Input),
			}
		}
	}
	return s
}

func fromStored(s *storedRecord) *record {
	r := &record{
		ID: s.ID, Seq: s.Seq, State: s.State, Attempts: s.Attempts, Crashes: s.Crashes,
		CreatedAt: s.CreatedAt, StartedAt: s.StartedAt, FinishedAt: s.FinishedAt, ExpiresAt: s.ExpiresAt,
		InputBytes: s.InputBytes, HaveInput: s.HaveInput, Notice: s.Notice,
	}
	q, o := s.Request, s.Request.Options
	r.Request = Request{URL: q.URL, Persistent: q.Persistent, Retention: q.Retention, Owner: q.Owner, Name: q.Name, Notify: q.Notify,
		Options: extract.Options{
			Format: extract.Format(o.Format), Start: o.Start, Duration: o.Duration, Track: o.Track, Language: o.Language,
			SampleRate: o.SampleRate, Channels: o.Channels, Bitrate: o.Bitrate, Copy: extract.CopyMode(o.Copy),
			Limits: extract.Limits(o.Limits),
		}}
	if s.Error != nil {
		r.Error = &Error{Code: s.Error.Code, Message: s.Error.Message}
	}
	if out := s.Result; out != nil {
		r.Result = &Output{Size: out.Size, Format: extract.Format(out.Format), Duration: out.Duration}
		if x := out.Extract; x != nil {
			r.Result.Extract = &extract.Result{
				Format: extract.Format(x.Format), Codec: x.Codec, SampleRate: x.SampleRate, Channels: x.Channels,
				ChannelLayout: x.ChannelLayout, Bitrate: x.Bitrate, Start: x.Start, StartSample: x.StartSample,
				Duration: x.Duration, Samples: x.Samples, Bytes: x.Bytes, EncoderDelay: x.EncoderDelay,
				Copied: x.Copied, DecodeErrors: x.DecodeErrors, Truncated: x.Truncated, Input: extract.AudioTrack(x.Input),
			}
		}
	}
	return r
}
