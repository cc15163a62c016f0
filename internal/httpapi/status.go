package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/timefmt"
	"github.com/audex/audex/jobs"
)

// The hosted API's three statuses.
const (
	statusPending    = "pending"
	statusSuccessful = "successful"
	statusFailed     = "failed"
)

// statusBody is the hosted API's status answer plus audex's additive fields.
type statusBody struct {
	JobID   string `json:"job_id"`
	Status  string `json:"status"`
	URL     string `json:"url,omitempty"`
	Message string `json:"message,omitempty"`

	State         jobs.State `json:"state"`
	Stage         jobs.Stage `json:"stage"`
	Progress      float64    `json:"progress"`
	QueuePosition int        `json:"queue_position,omitempty"`
	Attempts      int        `json:"attempts"`
	Code          string     `json:"code,omitempty"`
	Persistent    bool       `json:"persistent"`
	CreatedAt     time.Time  `json:"created_at"`
	StartedAt     time.Time  `json:"started_at,omitzero"`
	FinishedAt    time.Time  `json:"finished_at,omitzero"`
	ExpiresAt     time.Time  `json:"expires_at,omitzero"`
	Metadata      metadata   `json:"metadata"`
	// Webhook is there only for jobs submitted with webhook_url.
	Webhook *webhookInfo `json:"webhook,omitempty"`
}

type metadata struct {
	InputName  string      `json:"input_name,omitempty"`
	InputBytes int64       `json:"input_bytes"`
	Request    requestInfo `json:"request"`
	Input      *trackInfo  `json:"input,omitempty"`
	Output     *outputInfo `json:"output,omitempty"`
}

type requestInfo struct {
	StartTime    float64        `json:"start_time"`
	Duration     float64        `json:"duration"`
	FullAudio    bool           `json:"full_audio"`
	OutputFormat extract.Format `json:"output_format"`
	Track        int            `json:"track,omitempty"`
	Language     string         `json:"language,omitempty"`
	SampleRate   int            `json:"sample_rate,omitempty"`
	Channels     int            `json:"channels,omitempty"`
	Bitrate      int            `json:"bitrate,omitempty"`
	Copy         string         `json:"copy"`
}

type trackInfo struct {
	Track         int     `json:"track"`
	Codec         string  `json:"codec"`
	Profile       string  `json:"profile,omitempty"`
	SampleRate    int     `json:"sample_rate"`
	Channels      int     `json:"channels"`
	ChannelLayout string  `json:"channel_layout,omitempty"`
	Bitrate       int64   `json:"bitrate,omitempty"`
	Language      string  `json:"language,omitempty"`
	Start         float64 `json:"start"`
	Duration      float64 `json:"duration"`
}

type outputInfo struct {
	Format         extract.Format `json:"format"`
	Codec          string         `json:"codec,omitempty"`
	SampleRate     int            `json:"sample_rate,omitempty"`
	Channels       int            `json:"channels,omitempty"`
	ChannelLayout  string         `json:"channel_layout,omitempty"`
	Bitrate        int64          `json:"bitrate,omitempty"`
	Start          float64        `json:"start"`
	Duration       float64        `json:"duration"`
	Samples        int64          `json:"samples,omitempty"`
	Bytes          int64          `json:"bytes"`
	Copied         bool           `json:"copied"`
	EncoderDelay   int            `json:"encoder_delay,omitempty"`
	DecodeErrors   int            `json:"decode_errors,omitempty"`
	Truncated      bool           `json:"truncated,omitempty"`
	RealTimeFactor float64        `json:"real_time_factor,omitempty"`
}

// realTimeFactor is seconds of audio out per second of work, 0 when unknown.
func realTimeFactor(j jobs.Job) float64 {
	if j.Result == nil || j.StartedAt.IsZero() || !j.FinishedAt.After(j.StartedAt) {
		return 0
	}
	return j.Result.Duration.Seconds() / j.FinishedAt.Sub(j.StartedAt).Seconds()
}

// statusOf is j's status answer, with links under base (see baseURL).
func (s *Server) statusOf(base string, j jobs.Job) statusBody {
	opts := j.Request.Options
	b := statusBody{
		JobID:         j.ID,
		State:         j.State,
		Stage:         j.Stage,
		Progress:      math.Round(j.Progress*1000) / 10,
		QueuePosition: j.QueuePosition,
		Attempts:      j.Attempts,
		Persistent:    j.Request.Persistent,
		CreatedAt:     j.CreatedAt,
		StartedAt:     j.StartedAt,
		FinishedAt:    j.FinishedAt,
		ExpiresAt:     j.ExpiresAt,
		Metadata: metadata{
			InputName:  j.Request.Name,
			InputBytes: j.InputBytes,
			Request: requestInfo{
				StartTime:    timefmt.SecondsFloat(opts.Start),
				Duration:     timefmt.SecondsFloat(opts.Duration),
				FullAudio:    opts.Duration == 0,
				OutputFormat: opts.Format,
				Track:        opts.Track,
				Language:     opts.Language,
				SampleRate:   opts.SampleRate,
				Channels:     opts.Channels,
				Bitrate:      opts.Bitrate,
				Copy:         opts.Copy.String(),
			},
		},
		Webhook: webhookStatus(j),
	}
	if j.Request.URL != "" {
		b.Metadata.InputName = j.Request.URL
	}
	if res := j.Result; res != nil {
		out := &outputInfo{Format: res.Format, Duration: timefmt.SecondsFloat(res.Duration), Bytes: res.Size, RealTimeFactor: realTimeFactor(j)}
		if x := res.Extract; x != nil {
			out.Codec, out.SampleRate, out.Channels, out.ChannelLayout = x.Codec, x.SampleRate, x.Channels, x.ChannelLayout
			out.Bitrate, out.Start, out.Samples = x.Bitrate, timefmt.SecondsFloat(x.Start), x.Samples
			out.Copied, out.EncoderDelay, out.DecodeErrors = x.Copied, x.EncoderDelay, x.DecodeErrors
			out.Truncated = x.Truncated
			in := x.Input
			b.Metadata.Input = &trackInfo{
				Track: in.Track, Codec: in.Codec, Profile: in.Profile, SampleRate: in.SampleRate,
				Channels: in.Channels, ChannelLayout: in.ChannelLayout, Bitrate: in.Bitrate,
				Language: in.Language, Start: timefmt.SecondsFloat(in.Start), Duration: timefmt.SecondsFloat(in.Duration),
			}
		}
		b.Metadata.Output = out
	}

	switch j.State {
	case jobs.StateQueued:
		b.Status = statusPending
		b.Message = fmt.Sprintf("queued, position %d", j.QueuePosition)
	case jobs.StateRunning:
		b.Status = statusPending
		b.Message = fmt.Sprintf("%s, %.0f%% done", j.Stage, b.Progress)
	case jobs.StateSucceeded:
		b.Status = statusSuccessful
		b.URL = s.resultURL(base, j)
	case jobs.StateExpired:
		b.Status, b.Code = statusFailed, jobs.CodeExpired
		b.Message = "the result expired at " + j.ExpiresAt.UTC().Format(time.RFC3339)
	default: // failed, canceled
		b.Status = statusFailed
		b.Code, b.Message = jobs.CodeInternal, "the job failed"
		if j.Error != nil {
			b.Code, b.Message = j.Error.Code, j.Error.Message
		}
	}
	return b
}

// ownedJob returns the owner's job; another owner's job is ErrNotFound, the
// same answer as for an id that does not exist.
func (s *Server) ownedJob(r *http.Request, owner string) (jobs.Job, error) {
	id := r.PathValue("job_id")
	if !validJobID(id) {
		return jobs.Job{}, jobs.ErrNotFound
	}
	j, err := s.m.Get(id)
	if err != nil {
		return jobs.Job{}, err
	}
	if j.Request.Owner != owner {
		return jobs.Job{}, jobs.ErrNotFound
	}
	info(r).jobID = id
	return j, nil
}

// handleStatus answers the job's status, or streams it as it changes to a
// client that accepts text/event-stream (see stream.go).
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request, owner string) {
	j, err := s.ownedJob(r, owner)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if r.Method == http.MethodGet && acceptsEventStream(r) { // HEAD gets the plain answer's headers
		s.streamStatus(w, r, owner, j)
		return
	}
	writeJSON(w, http.StatusOK, s.statusOf(s.baseURL(r), j))
}

// handleDelete cancels a live job, or deletes a final one with its result.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, owner string) {
	j, err := s.ownedJob(r, owner)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if j.State.Final() {
		err = s.m.Delete(j.ID)
	} else {
		_, err = s.m.Cancel(j.ID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
