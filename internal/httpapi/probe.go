package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/timefmt"
	"github.com/audex/audex/jobs"
)

// routeProbe answers what a video holds (container, length, audio tracks)
// before a job is submitted. It is an audex extension, used by the
// playground so a person can pick a track and see the video's length.
const routeProbe = "POST /job/extract/video/audio/probe"

// probeTimeout bounds the probe itself, after the upload.
const probeTimeout = 30 * time.Second

// probeBody is extract.Info with times in seconds, like the rest of the API.
type probeBody struct {
	Container         string      `json:"container"`
	ContainerLongName string      `json:"container_long_name,omitempty"`
	Duration          float64     `json:"duration"`
	Bitrate           int64       `json:"bitrate,omitempty"`
	Streams           int         `json:"streams"`
	AudioTracks       []trackInfo `json:"audio_tracks"`
	BestTrack         int         `json:"best_track"`
}

// handleProbe reads the upload like a file submission (same limits, and
// counted against the owner's submit rate, since it costs as much), probes it
// and forgets it.
func (s *Server) handleProbe(w http.ResponseWriter, r *http.Request, owner string) {
	f, err := s.readVideoUpload(w, r, owner, false)
	defer f.cleanup()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
	defer cancel()
	in, err := extract.ProbeFile(ctx, f.video, nil)
	if err != nil {
		info(r).err = err
		switch code := jobs.ErrorCode(err); {
		case r.Context().Err() != nil:
			// The client left: nobody to answer.
		case ctx.Err() != nil:
			writeError(w, http.StatusBadRequest, jobs.CodeTimeout, "probing the video took too long")
		case code == jobs.CodeInternal:
			s.fail(w, r, err)
		default:
			writeError(w, http.StatusBadRequest, code, err.Error())
		}
		return
	}
	b := probeBody{
		Container: in.Container, ContainerLongName: in.ContainerLongName, Duration: timefmt.SecondsFloat(in.Duration),
		Bitrate: in.Bitrate, Streams: in.Streams, AudioTracks: []trackInfo{}, BestTrack: in.BestTrack,
	}
	for _, t := range in.AudioTracks {
		b.AudioTracks = append(b.AudioTracks, trackInfo{
			Track: t.Track, Codec: t.Codec, Profile: t.Profile, SampleRate: t.SampleRate,
			Channels: t.Channels, ChannelLayout: t.ChannelLayout, Bitrate: t.Bitrate,
			Language: t.Language, Start: timefmt.SecondsFloat(t.Start), Duration: timefmt.SecondsFloat(t.Duration),
		})
	}
	writeJSON(w, http.StatusOK, b)
}
