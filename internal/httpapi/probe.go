package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/timefmt"
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
	Peaks             *Peaks      `json:"peaks,omitempty"`
}

// handleProbe reads the upload like a file submission (same limits, and
// counted against the owner's submit rate, since it costs as much), probes it
// and forgets it. With the peaks field it also answers the waveform of a
// track (track or language, else the best one), over peaks_from to
// peaks_to, when the file has audio.
func (s *Server) handleProbe(w http.ResponseWriter, r *http.Request, owner string) {
	f, err := s.readVideoUpload(w, r, owner, false)
	defer f.cleanup()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pp, err := parsePeaksParams(f.values, 0, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
	defer cancel()
	in, err := extract.ProbeFile(ctx, f.video, nil)
	if err != nil {
		s.mediaFailure(ctx, w, r, "probing the video", err)
		return
	}
	var wave *extract.Waveform
	if pp.n > 0 && len(in.AudioTracks) > 0 {
		if wave, err = extract.PeaksFile(ctx, f.video, pp.n, pp.options()); err != nil {
			s.mediaFailure(ctx, w, r, "drawing the waveform", err)
			return
		}
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
	if wave != nil {
		b.Peaks = NewPeaks(wave)
	}
	writeJSON(w, http.StatusOK, b)
}
