package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"time"

	"github.com/audex/audex/internal/fetch"
	"github.com/audex/audex/jobs"
)

// Limits of a submit request's shape.
const (
	// maxParts bounds the parts of a multipart body.
	maxParts = 32
	// maxFieldBytes bounds one non-file form field.
	maxFieldBytes = 8 << 10
	// multipartSlack is what a body may hold beyond the file itself: the
	// other fields and the multipart framing.
	multipartSlack = 64 << 10
	// maxNameBytes bounds the client file name kept for display.
	maxNameBytes = 255
)

var (
	errBadRequest       = errors.New("bad request")
	errTooLarge         = errors.New("too large")
	errUnsupportedMedia = errors.New("unsupported media type")
	errDraining         = errors.New("shutting down")
	errStalled          = errors.New("request body stalled")
	errRateLimited      = errors.New("rate limited")
)

type rateLimitError struct{ wait time.Duration }

func (e *rateLimitError) Error() string        { return fmt.Sprintf("rate limited for %v", e.wait) }
func (e *rateLimitError) Is(target error) bool { return target == errRateLimited }

// admit refuses a submission before its body is read: while draining, or
// when the owner is over its rate.
func (s *Server) admit(owner string) error {
	if s.stopping.Load() {
		return errDraining
	}
	if ok, wait := s.limiter.allow(owner); !ok {
		return &rateLimitError{wait: wait}
	}
	return nil
}

// requestError is a client error with a machine code for the response.
type requestError struct {
	kind error
	code string
	msg  string
}

func (e *requestError) Error() string        { return e.msg }
func (e *requestError) Is(target error) bool { return target == e.kind }

func badRequest(code, format string, args ...any) error {
	return &requestError{kind: errBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

func badRequestCode(err error) string {
	if e, ok := errors.AsType[*requestError](err); ok {
		return e.code
	}
	return "bad_request"
}

// form is a parsed submit body.
type form struct {
	values url.Values
	// video is the temp file holding the uploaded video, "" when none; the
	// caller removes it.
	video     string
	videoName string
	videoSize int64
	// place is the queue place held for a job submission while its
	// upload arrives; nil for probes.
	place *jobs.Reservation
}

func (f *form) cleanup() {
	if f.video != "" {
		os.Remove(f.video)
	}
	if f.place != nil {
		f.place.Release()
	}
}

// readVideoUpload admits the owner and streams a multipart upload with a
// non-empty video part to a temp file. The caller must call the form's
// cleanup, error or not.
func (s *Server) readVideoUpload(w http.ResponseWriter, r *http.Request, owner string, forJob bool) (*form, error) {
	f := &form{values: url.Values{}}
	if err := s.admit(owner); err != nil {
		return f, err
	}
	if forJob {
		// Hold a place in the queue, and room on disk for the body's
		// declared length, before reading it: when queued jobs and uploads
		// under way fill either, the upload is refused at once instead of
		// after its bytes were received and stored.
		place, err := s.m.Reserve(r.ContentLength)
		if err != nil {
			return f, err
		}
		f.place = place
	}
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" {
		return f, fmt.Errorf("%w: want multipart/form-data with a video part", errUnsupportedMedia)
	}
	if params["boundary"] == "" {
		return f, badRequest("bad_multipart", "multipart/form-data without a boundary")
	}
	if err := s.readMultipart(w, r, s.cfg.MaxUploadBytes+multipartSlack, f, true); err != nil {
		return f, err
	}
	s.metrics.uploadBytes.Add(float64(f.videoSize))
	switch {
	case f.video == "":
		return f, badRequest("missing_video", "missing the video file part")
	case f.videoSize == 0:
		return f, badRequest("empty_input", "the video file is empty")
	}
	return f, nil
}

func (s *Server) handleSubmitFile(w http.ResponseWriter, r *http.Request, owner string) {
	f, err := s.readVideoUpload(w, r, owner, true)
	defer f.cleanup()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.params(r, f.values)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	job, err := f.place.SubmitFile(r.Context(), f.video, jobs.Request{
		Options:    p.Options(),
		Persistent: p.Persistent,
		Owner:      owner,
		Name:       truncate(f.videoName, maxNameBytes),
		Notify:     s.notifyTarget(r, p),
		// The spooled upload is ours: hand it over rather than link it.
		MoveInput: true,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.accepted(w, r, job)
}

func (s *Server) handleSubmitURL(w http.ResponseWriter, r *http.Request, owner string) {
	if err := s.admit(owner); err != nil {
		s.fail(w, r, err)
		return
	}
	values, err := s.readURLForm(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	urls := values[fieldVideoURL]
	delete(values, fieldVideoURL)
	switch {
	case len(urls) == 0 || urls[0] == "":
		s.fail(w, r, badRequest("missing_video_url", "missing video_url"))
		return
	case len(urls) > 1:
		s.fail(w, r, &ParamsError{Fields: []FieldError{{Field: fieldVideoURL, Message: fmt.Sprintf("given %d times", len(urls))}}})
		return
	}
	if err := fetch.Check(urls[0], s.cfg.AllowPrivateFetch); err != nil {
		s.fail(w, r, &ParamsError{Fields: []FieldError{{Field: fieldVideoURL, Message: err.Error()}}})
		return
	}
	p, err := s.params(r, values)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	u, _ := url.Parse(urls[0])
	job, err := s.m.SubmitURL(r.Context(), jobs.Request{
		Options:    p.Options(),
		URL:        urls[0],
		Persistent: p.Persistent,
		Owner:      owner,
		Name:       truncate(path.Base(u.Path), maxNameBytes),
		Notify:     s.notifyTarget(r, p),
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.accepted(w, r, job)
}

func (s *Server) accepted(w http.ResponseWriter, r *http.Request, job jobs.Job) {
	info(r).jobID = job.ID
	s.metrics.submitted.Inc()
	writeJSON(w, http.StatusOK, map[string]string{"job_id": job.ID})
}

// params parses the option fields of a body, plus the persistent query
// parameter, and checks the webhook's address against the server's rules.
func (s *Server) params(r *http.Request, values url.Values) (JobParams, error) {
	if q, ok := r.URL.Query()[fieldPersistent]; ok {
		values[fieldPersistent] = append(values[fieldPersistent], q...)
	}
	p, err := ParseJobParams(values)
	if err != nil {
		return p, err
	}
	return p, s.checkWebhook(p)
}

// body wraps r.Body in the size limit, the inactivity deadline and the cut
// at a drain's deadline (see Server.cutUploads). The caller calls done when
// it has read the body, error or not.
func (s *Server) body(w http.ResponseWriter, r *http.Request, limit int64) (done func(), err error) {
	if r.ContentLength > limit {
		return func() {}, fmt.Errorf("%w: request body of %d bytes over the %d byte limit", errTooLarge, r.ContentLength, limit)
	}
	rc := http.NewResponseController(w)
	r.Body = http.MaxBytesReader(w, &idleBody{ReadCloser: r.Body, rc: rc, idle: s.cfg.UploadIdleTimeout, cut: s.cut}, limit)
	// A read blocked on the connection returns at once.
	stop := context.AfterFunc(s.cut, func() { rc.SetReadDeadline(time.Now()) })
	return func() {
		stop()
		rc.SetReadDeadline(time.Time{})
	}, nil
}

// readMultipart streams a multipart body: the video part (when withVideo)
// to a temp file in the uploads directory, other file parts to nowhere, and
// fields into f.values.
func (s *Server) readMultipart(w http.ResponseWriter, r *http.Request, limit int64, f *form, withVideo bool) error {
	done, err := s.body(w, r, limit)
	defer done()
	if err != nil {
		return err
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return badRequest("bad_multipart", "malformed multipart body: %v", err)
	}
	for parts := 0; ; parts++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return s.readError(r, err, "malformed multipart body")
		}
		if parts == maxParts {
			part.Close()
			return badRequest("too_many_parts", "more than %d parts", maxParts)
		}
		err = s.readPart(part, f, withVideo)
		part.Close()
		if err != nil {
			return err
		}
	}
}

type partReader interface {
	io.Reader
	FormName() string
	FileName() string
}

func (s *Server) readPart(part partReader, f *form, withVideo bool) error {
	name := part.FormName()
	switch {
	case name == fieldVideo && withVideo:
		if f.video != "" {
			return badRequest("duplicate_video", "more than one video part")
		}
		tmp, err := os.CreateTemp(s.uploadDir, uploadPattern)
		if err != nil {
			return fmt.Errorf("%w: create upload file: %w", jobs.ErrUnavailable, err)
		}
		f.video, f.videoName = tmp.Name(), part.FileName()
		n, err := io.Copy(tmp, io.LimitReader(part, s.cfg.MaxUploadBytes+1))
		if cerr := tmp.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("%w: write upload: %w", jobs.ErrUnavailable, cerr)
		}
		f.videoSize = n
		if err != nil {
			return s.readError(nil, err, "upload interrupted")
		}
		if n > s.cfg.MaxUploadBytes {
			return fmt.Errorf("%w: the video is over the %d byte limit", errTooLarge, s.cfg.MaxUploadBytes)
		}
	case part.FileName() != "" || name == fieldVideo:
		// Files the API does not take are read past, not stored.
		if _, err := io.Copy(io.Discard, part); err != nil {
			return s.readError(nil, err, "malformed multipart body")
		}
	default:
		b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
		if err != nil {
			return s.readError(nil, err, "malformed multipart body")
		}
		if len(b) > maxFieldBytes {
			return badRequest("field_too_long", "field %q longer than %d bytes", truncate(name, 64), maxFieldBytes)
		}
		f.values.Add(name, string(b))
	}
	return nil
}

// readError classifies a failure to read the body.
func (s *Server) readError(r *http.Request, err error, what string) error {
	var maxErr *http.MaxBytesError
	switch {
	case s.cut.Err() != nil, errors.Is(err, errDraining):
		// Cut at the drain deadline: 503, the client may retry elsewhere.
		return fmt.Errorf("%w: the upload was still arriving at the drain deadline", errDraining)
	case errors.As(err, &maxErr), errors.Is(err, jobs.ErrUnavailable):
		return err
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: no data for %v", errStalled, s.cfg.UploadIdleTimeout)
	case r != nil && r.Context().Err() != nil, errors.Is(err, context.Canceled):
		return badRequest("upload_interrupted", "upload interrupted: %v", err)
	}
	var pathErr *os.PathError
	if errors.As(err, &pathErr) {
		// Writing the temp file failed: our disk, not the client.
		return fmt.Errorf("%w: write upload: %w", jobs.ErrUnavailable, err)
	}
	return badRequest("bad_multipart", "%s: %v", what, err)
}

// readURLForm reads a video_url submission: multipart, urlencoded or JSON.
func (s *Server) readURLForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, fmt.Errorf("%w: want multipart/form-data, application/x-www-form-urlencoded or application/json", errUnsupportedMedia)
	}
	const limit = multipartSlack
	switch {
	case mediaType == "multipart/form-data":
		if params["boundary"] == "" {
			return nil, badRequest("bad_multipart", "multipart/form-data without a boundary")
		}
		f := &form{values: url.Values{}}
		defer f.cleanup()
		if err := s.readMultipart(w, r, limit, f, false); err != nil {
			return nil, err
		}
		return f.values, nil
	case mediaType == "application/x-www-form-urlencoded":
		done, err := s.body(w, r, limit)
		defer done()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, s.readError(r, err, "unreadable body")
		}
		v, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, badRequest("bad_form", "malformed form body: %v", err)
		}
		return v, nil
	case isJSON(mediaType):
		done, err := s.body(w, r, limit)
		defer done()
		if err != nil {
			return nil, err
		}
		v, err := valuesFromJSON(r.Body)
		if err != nil {
			var maxErr *http.MaxBytesError
			if perr, ok := errors.AsType[*ParamsError](err); ok {
				return nil, perr
			} else if errors.As(err, &maxErr) {
				return nil, maxErr
			}
			return nil, badRequest("bad_json", "%v", err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("%w: want multipart/form-data, application/x-www-form-urlencoded or application/json", errUnsupportedMedia)
}

// idleBody extends the connection's read deadline while data flows, so an
// upload may be long but never stalled for more than idle, nor trickling
// slower than minUploadProgress per idle period (a slowloris body that sends
// a byte now and then would otherwise hold its connection and temp file until
// the size limit).
type idleBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	idle    time.Duration
	renewed time.Time
	since   int64 // bytes read since the deadline was last extended
	cut     context.Context
}

// minUploadProgress is what an upload must deliver per idle period (at the
// default 30 s, about 550 bytes a second) to keep its connection.
const minUploadProgress = 16 << 10

func (b *idleBody) Read(p []byte) (int, error) {
	if b.cut.Err() != nil {
		// Checked before each read: a renewal below may have raced with
		// the cut's deadline in the past.
		return 0, errDraining
	}
	now := time.Now()
	if b.renewed.IsZero() {
		b.rc.SetReadDeadline(now.Add(b.idle))
		b.renewed = now
	}
	n, err := b.ReadCloser.Read(p)
	b.since += int64(n)
	// Renewing costs a timer reset; a quarter of the period is precise
	// enough and keeps it off the per-read path of a fast upload.
	if b.since >= minUploadProgress && now.Sub(b.renewed) > b.idle/4 {
		b.rc.SetReadDeadline(now.Add(b.idle))
		b.renewed, b.since = now, 0
	}
	return n, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
