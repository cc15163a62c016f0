package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/timefmt"
	"github.com/audex/audex/jobs"
)

// The waveform extension: peaks (min/max per column) of an upload's audio
// track, as an option of the probe, and of a finished job's result.
const (
	// routePeaks answers the waveform of a succeeded job's result, for the
	// owner of the job.
	routePeaks = "GET /job/extract/video/audio/peaks/{job_id}"

	// Fields of the probe form and query parameters of routePeaks.
	fieldPeaks     = "peaks"
	fieldPeaksFrom = "peaks_from"
	fieldPeaksTo   = "peaks_to"

	// MaxPeaks is the most columns one request may ask for.
	MaxPeaks = 4096
	// defaultResultPeaks is routePeaks' column count when peaks is absent.
	defaultResultPeaks = 1000
)

// peaksParams are the validated waveform fields of a request.
type peaksParams struct {
	n        int // 0: no waveform asked for
	from, to time.Duration
	track    int
	language string
}

// parsePeaksParams reads peaks, peaks_from, peaks_to and (for a probe)
// track and language; def is the column count when peaks is absent. Every
// bad field is reported.
func parsePeaksParams(v url.Values, def int, withTrack bool) (peaksParams, error) {
	p := peaksParams{n: def}
	perr := &ParamsError{}
	get := fieldReader(v, perr)
	if s, ok := get(fieldPeaks); ok {
		n, err := parseInt(s, 1, MaxPeaks)
		if err != nil {
			perr.add(fieldPeaks, "%v", err)
		}
		p.n = n
	}
	var fromSet, toSet bool
	if s, ok := get(fieldPeaksFrom); ok {
		d, err := ParseTime(s)
		if err != nil {
			perr.add(fieldPeaksFrom, "%v", err)
		}
		p.from, fromSet = d, err == nil
	}
	if s, ok := get(fieldPeaksTo); ok {
		d, err := ParseTime(s)
		switch {
		case err != nil:
			perr.add(fieldPeaksTo, "%v", err)
		case d == 0:
			perr.add(fieldPeaksTo, "must be greater than 0")
		default:
			p.to, toSet = d, true
		}
	}
	if toSet && fromSet && p.to <= p.from {
		perr.add(fieldPeaksTo, "must be after %s", fieldPeaksFrom)
	}
	if p.n == 0 && (fromSet || toSet) {
		perr.add(fieldPeaks, "missing: %s and %s go with %s", fieldPeaksFrom, fieldPeaksTo, fieldPeaks)
	}
	if withTrack {
		p.track, p.language = parseTrack(get, perr)
	}
	if len(perr.Fields) > 0 {
		return peaksParams{}, perr
	}
	return p, nil
}

func (p peaksParams) options() *extract.PeaksOptions {
	return &extract.PeaksOptions{Track: p.track, Language: p.language, From: p.from, To: p.to}
}

// Peaks is an extract.Waveform as the API answers it (the probe's peaks,
// the result's waveform) and the CLI prints it: times in seconds, the
// columns rounded to 1/10000 of full scale.
type Peaks struct {
	Track   int       `json:"track"`
	From    float64   `json:"from"`
	To      float64   `json:"to"`
	Columns int       `json:"columns"`
	Sampled bool      `json:"sampled"`
	Min     []float64 `json:"min"`
	Max     []float64 `json:"max"`
}

// NewPeaks is the view of w.
func NewPeaks(w *extract.Waveform) *Peaks {
	round := func(v []float32) []float64 {
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = math.Round(float64(x)*1e4) / 1e4
		}
		return out
	}
	return &Peaks{
		Track: w.Track.Track, From: timefmt.SecondsFloat(w.From), To: timefmt.SecondsFloat(w.To),
		Columns: len(w.Max), Sampled: w.Sampled, Min: round(w.Min), Max: round(w.Max),
	}
}

// mediaFailure answers a failed probe or waveform: the job failure code
// of the error (400), a timeout, or 500 for the unexpected.
func (s *Server) mediaFailure(ctx context.Context, w http.ResponseWriter, r *http.Request, what string, err error) {
	info(r).err = err
	switch code := jobs.ErrorCode(err); {
	case r.Context().Err() != nil:
		// The client left: nobody to answer.
	case ctx.Err() != nil:
		writeError(w, http.StatusBadRequest, jobs.CodeTimeout, what+" took too long")
	case code == jobs.CodeInternal:
		s.fail(w, r, err)
	default:
		writeError(w, http.StatusBadRequest, code, err.Error())
	}
}

// handlePeaks answers the waveform of a succeeded job's result: the
// owner's job only (another owner's is 404, as for the status), 409 while
// it has no result, 410 once the result expired. It costs what a probe
// does and is admitted like one.
func (s *Server) handlePeaks(w http.ResponseWriter, r *http.Request, owner string) {
	j, err := s.ownedJob(r, owner)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := parsePeaksParams(r.URL.Query(), defaultResultPeaks, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.admit(owner); err != nil {
		s.fail(w, r, err)
		return
	}
	f, _, err := s.m.OpenResult(r.Context(), j.ID)
	if errors.Is(err, jobs.ErrNotReady) {
		info(r).err = err
		writeError(w, http.StatusConflict, jobs.CodeNotReady, fmt.Sprintf("the job is %s: it has no result yet", j.State))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
	defer cancel()
	wave, err := extract.Peaks(ctx, f, p.n, p.options())
	if err != nil {
		s.mediaFailure(ctx, w, r, "drawing the waveform", err)
		return
	}
	writeJSON(w, http.StatusOK, NewPeaks(wave))
}
