package httpapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/audex/audex/jobs"
)

// resultPath is the path a result link points at and signs.
func resultPath(id, name string) string { return resultsPrefix + id + "/" + name }

// resultURL returns the signed link to a succeeded job's result under base
// (see baseURL), valid until the job's result expires (forever for
// persistent jobs).
func (s *Server) resultURL(base string, j jobs.Job) string {
	_, ascii := downloadNames(j.Request.Name, j.Result.Format)
	p := resultPath(j.ID, ascii)
	return base + p + "?" + s.signer.sign(p, j.ExpiresAt).Encode()
}

// baseURL is what links in answers to r start with: PublicURL, else r's
// own scheme and host.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// handleResult serves a result through its signed link: 403 for a bad
// signature, 410 once the link or the result expired, 404 for a job that is
// gone. Range, HEAD and conditional requests are http.ServeContent's.
func (s *Server) handleResult(w http.ResponseWriter, r *http.Request) {
	id, name := r.PathValue("job_id"), r.PathValue("name")
	q := r.URL.Query()
	err := s.signer.verify(resultPath(id, name), q.Get("exp"), q.Get("sig"), s.cfg.Now())
	switch {
	case errors.Is(err, errLinkInvalid):
		info(r).err = err
		writeError(w, http.StatusForbidden, "bad_signature", "invalid link")
		return
	case errors.Is(err, errLinkExpired):
		info(r).err = err
		writeError(w, http.StatusGone, "expired", "the link has expired")
		return
	}
	// Only a link this server signed gets here, so id is one of its job ids.
	info(r).jobID = id
	f, j, err := s.m.OpenResult(r.Context(), id)
	switch {
	case errors.Is(err, jobs.ErrNotReady):
		s.fail(w, r, jobs.ErrNotFound)
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	display, ascii := downloadNames(j.Request.Name, j.Result.Format)
	h := w.Header()
	h.Set("Content-Type", j.Result.Format.MIMEType())
	h.Set("Content-Disposition", contentDisposition(display, ascii))
	// A result is written once and never changes: its id and size name it.
	h.Set("ETag", `"`+id+"-"+strconv.FormatInt(j.Result.Size, 36)+`"`)
	h.Set("Cache-Control", "private, no-transform")
	h.Set("X-Content-Type-Options", "nosniff")
	cw := &countingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, "", j.FinishedAt, f)
	s.metrics.resultBytes.Add(float64(cw.n))
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
