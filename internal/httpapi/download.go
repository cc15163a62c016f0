package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

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
// gone. Range, HEAD and conditional requests are http.ServeContent's. With
// PresignResults, a plain GET of a result in blobs that presign is
// redirected instead (see redirectResult).
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
	// Only a link signed with this server's key (its own, or a replica's)
	// gets here, so id is a job id the service made.
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
	contentType, disposition := j.Result.Format.MIMEType(), contentDisposition(display, ascii)
	if s.redirectResult(w, r, f, j, contentType, disposition) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", disposition)
	// A result is written once and never changes: its id and size name it.
	h.Set("ETag", `"`+id+"-"+strconv.FormatInt(j.Result.Size, 36)+`"`)
	h.Set("Cache-Control", resultCacheControl)
	h.Set("X-Content-Type-Options", "nosniff")
	cw := &countingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, "", j.FinishedAt, f)
	s.metrics.resultBytes.Add(float64(cw.n))
}

const resultCacheControl = "private, no-transform"

// redirectResult answers 307 to a presigned URL of result f, when
// Config.PresignResults asks for it, f's blobs presign (S3; the disk's do
// not), and the request is a GET without conditions: HEAD and conditional
// requests stay here, where the ETag is audex's. The URL lasts
// PresignResults, never past the result's expiry (the link was checked
// first, so an expired result never gets one); under a second left, or a
// URL the blobs fail to make, and the result is streamed. It reports
// whether it answered.
func (s *Server) redirectResult(w http.ResponseWriter, r *http.Request, f jobs.Blob, j jobs.Job, contentType, disposition string) bool {
	p, ok := f.(jobs.Presigner)
	if !ok || s.cfg.PresignResults <= 0 || r.Method != http.MethodGet || conditional(r) {
		return false
	}
	ttl := s.cfg.PresignResults
	if !j.ExpiresAt.IsZero() {
		ttl = min(ttl, j.ExpiresAt.Sub(s.cfg.Now()))
	}
	if ttl < time.Second { // presigned URLs count whole seconds
		return false
	}
	loc, err := p.Presign(r.Context(), ttl, jobs.PresignHeaders{ContentType: contentType, ContentDisposition: disposition, CacheControl: resultCacheControl})
	if err != nil {
		s.log.Warn("presign failed, streaming the result", "job", j.ID, "error", err.Error())
		return false
	}
	h := w.Header()
	h.Set("Location", loc)
	// The URL expires: no cache may keep the redirect.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusTemporaryRedirect)
	s.metrics.resultRedirects.Inc()
	return true
}

// conditional reports whether r has a precondition or If-Range.
func conditional(r *http.Request) bool {
	for _, k := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range"} {
		if r.Header.Get(k) != "" {
			return true
		}
	}
	return false
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
