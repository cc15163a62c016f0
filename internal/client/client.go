package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/timefmt"
)

// API paths.
const (
	pathSubmitFile = "/job/extract/video/audio/file"
	pathSubmitURL  = "/job/extract/video/audio/url"
	pathStatus     = "/job/extract/video/audio/status/"
	pathJob        = "/job/extract/video/audio/" // DELETE: audex's cancel extension
	// TokenHeader carries the API token.
	TokenHeader = "apy-token"
)

// Job statuses of the hosted API.
const (
	StatusPending    = "pending"
	StatusSuccessful = "successful"
	StatusFailed     = "failed"
)

// Errors.
var (
	// ErrAPI is wrapped by every error the server answered (see APIError).
	ErrAPI = errors.New("error answer from the server")
	// ErrJobNotFound: the server knows no job of that ID (for this token).
	// Status and Cancel return it, together with the *APIError, for a 404.
	ErrJobNotFound = errors.New("job not found")
	// ErrJobFailed: the job ended in the failed status.
	ErrJobFailed = errors.New("job failed")
	// ErrNotReady: the job has no result yet.
	ErrNotReady = errors.New("job not finished")
)

// Client is a job API client. The zero value is not usable: set Server.
type Client struct {
	// Server is the base URL, e.g. "http://127.0.0.1:8080".
	Server string
	// Token is sent in the apy-token header to Server. Empty sends none.
	Token string
	// HTTP is the client to use. Defaults to one without an overall
	// timeout (uploads and downloads can be long; use the context).
	HTTP *http.Client
	// PollInterval is how often Wait polls. Defaults to 500 ms.
	PollInterval time.Duration
}

// Params are a job's options, named after the extract package's; Encode turns
// them into the API's fields.
type Params struct {
	// Start is start_time. Defaults to 0.
	Start time.Duration
	// Duration is duration. 0 with Full unset leaves the server's default
	// (2 s on the hosted API).
	Duration time.Duration
	// Full asks for the audio from Start to the end (full_audio).
	Full bool
	// Format is output_format. Empty leaves the server's default (mp3).
	Format extract.Format
	// Persistent keeps the result instead of letting it expire.
	Persistent bool
	// Extensions of audex servers; zero values are not sent.
	Track      int
	Language   string
	SampleRate int
	Channels   int
	Bitrate    int
	Copy       extract.CopyMode
	// WebhookURL is webhook_url: where the server POSTs the job's final
	// status, signed (see VerifyWebhook).
	WebhookURL string
}

// Fields returns the form fields for p (persistent goes in the query).
func (p Params) Fields() url.Values {
	v := url.Values{}
	if p.Start > 0 {
		v.Set("start_time", timefmt.Seconds(p.Start))
	}
	if p.Full {
		v.Set("full_audio", "true")
	} else if p.Duration > 0 {
		v.Set("duration", timefmt.Seconds(p.Duration))
	}
	if p.Format != "" {
		v.Set("output_format", p.Format.String())
	}
	setInt := func(k string, n int) {
		if n > 0 {
			v.Set(k, strconv.Itoa(n))
		}
	}
	setInt("track", p.Track)
	setInt("sample_rate", p.SampleRate)
	setInt("channels", p.Channels)
	setInt("bitrate", p.Bitrate)
	if p.Language != "" {
		v.Set("language", p.Language)
	}
	if p.Copy != "" && p.Copy != extract.CopyAuto {
		v.Set("copy", p.Copy.String())
	}
	if p.WebhookURL != "" {
		v.Set("webhook_url", p.WebhookURL)
	}
	return v
}

// Status is a job's state as the status endpoint reports it. The first four
// fields are the hosted API's; the rest are audex extensions (zero when the
// server does not send them).
type Status struct {
	JobID         string          `json:"job_id"`
	Status        string          `json:"status"`
	URL           string          `json:"url,omitempty"`
	Message       string          `json:"message,omitempty"`
	State         string          `json:"state,omitempty"`
	Stage         string          `json:"stage,omitempty"`
	Progress      float64         `json:"progress,omitempty"`
	QueuePosition int             `json:"queue_position,omitempty"`
	Attempts      int             `json:"attempts,omitempty"`
	Code          string          `json:"code,omitempty"`
	Persistent    bool            `json:"persistent,omitempty"`
	CreatedAt     *time.Time      `json:"created_at,omitempty"`
	StartedAt     *time.Time      `json:"started_at,omitempty"`
	FinishedAt    *time.Time      `json:"finished_at,omitempty"`
	ExpiresAt     *time.Time      `json:"expires_at,omitempty"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
}

// Done reports whether the job reached a final status.
func (s *Status) Done() bool { return s.Status != StatusPending }

// Err is nil unless the job failed; then it wraps ErrJobFailed with the
// server's message and code.
func (s *Status) Err() error {
	if s.Status != StatusFailed {
		return nil
	}
	msg := s.Message
	if msg == "" {
		msg = "no message"
	}
	if s.Code != "" {
		msg += " (" + s.Code + ")"
	}
	return fmt.Errorf("%w: %s", ErrJobFailed, msg)
}

// Truncated reports the audex extension metadata.output.truncated: the
// input ended early (cut short or damaged) and the result holds the audio
// up to that point.
func (s *Status) Truncated() bool {
	var m struct {
		Output struct {
			Truncated bool `json:"truncated"`
		} `json:"output"`
	}
	return len(s.Metadata) > 0 && json.Unmarshal(s.Metadata, &m) == nil && m.Output.Truncated
}

// FieldError is one rejected parameter.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// APIError is an error answer of the server.
type APIError struct {
	StatusCode int
	Message    string       `json:"error"`
	Code       string       `json:"code"`
	Fields     []FieldError `json:"fields"`
	// RetryAfter is the server's Retry-After, when it sent one.
	RetryAfter time.Duration
}

// Error reads "HTTP 401: unauthorized (unauthorized)"; answers of the 5xx
// class, the server's own failures, start with "server error: ".
func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	s := fmt.Sprintf("HTTP %d: %s", e.StatusCode, msg)
	if e.Code != "" {
		s += " (" + e.Code + ")"
	}
	if e.StatusCode >= 500 {
		s = "server error: " + s
	}
	return s
}

// Unwrap makes errors.Is(err, ErrAPI) hold.
func (e *APIError) Unwrap() error { return ErrAPI }

// jobNotFound is a 404 answer about a job: it reads "job not found" and
// matches both ErrJobNotFound and the *APIError.
type jobNotFound struct{ *APIError }

func (e jobNotFound) Error() string   { return ErrJobNotFound.Error() }
func (e jobNotFound) Unwrap() []error { return []error{ErrJobNotFound, e.APIError} }

// jobErr turns a 404 on a job's URL into ErrJobNotFound.
func jobErr(err error) error {
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound {
		return jobNotFound{ae}
	}
	return err
}

// http is c.HTTP (or the default client) with a redirect policy that keeps
// the token on Server: a result link may redirect to another host (a
// presigned URL of the server's bucket), and Go's client copies every
// header but Authorization and cookies to wherever a redirect leads.
func (c *Client) http() *http.Client {
	hc := *http.DefaultClient
	if c.HTTP != nil {
		hc = *c.HTTP
	}
	next := hc.CheckRedirect
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !c.sameServer(req.URL) {
			req.Header.Del(TokenHeader)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		return nil
	}
	return &hc
}

// maxRedirects is the default client's limit, kept when the policy is ours.
const maxRedirects = 10

func (c *Client) base() (*url.URL, error) {
	u, err := url.Parse(c.Server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: server %q: want http(s)://host[:port]", c.Server)
	}
	return u, nil
}

func (c *Client) endpoint(p string, q url.Values) (*url.URL, error) {
	u, err := c.base()
	if err != nil {
		return nil, err
	}
	u = u.JoinPath(p)
	u.RawQuery = q.Encode()
	return u, nil
}

// do sends req with the token (only to the configured server) and decodes a
// JSON answer into out (unless out is nil), or returns an *APIError.
func (c *Client) do(req *http.Request, out any) error {
	if c.Token != "" && c.sameServer(req.URL) {
		req.Header.Set(TokenHeader, c.Token)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return apiError(resp)
	}
	if out == nil { // no answer expected (204)
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("client: %s %s: decode answer: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

func apiError(resp *http.Response) error {
	e := &APIError{StatusCode: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(b))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "…"
		}
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

func (c *Client) sameServer(u *url.URL) bool {
	b, err := c.base()
	return err == nil && strings.EqualFold(b.Scheme, u.Scheme) && strings.EqualFold(b.Host, u.Host)
}

func persistentQuery(p Params) url.Values {
	q := url.Values{}
	if p.Persistent {
		q.Set("persistent", "true")
	}
	return q
}

// SubmitFile uploads the video read from r (named name) and returns the new
// job's ID. size is r's length, or -1 when unknown (then the body is sent
// chunked). The file is streamed, never held in memory.
func (c *Client) SubmitFile(ctx context.Context, name string, r io.Reader, size int64, p Params) (string, error) {
	u, err := c.endpoint(pathSubmitFile, persistentQuery(p))
	if err != nil {
		return "", err
	}
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	if err := writeFields(mw, p.Fields()); err != nil {
		return "", err
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "video", "filename": path.Base(name)}))
	h.Set("Content-Type", "application/octet-stream")
	if _, err := mw.CreatePart(h); err != nil {
		return "", err
	}
	headLen := head.Len()
	// Close writes the closing boundary into head after the part header;
	// split it off to put the file in between.
	if err := mw.Close(); err != nil {
		return "", err
	}
	all := head.Bytes()
	prefix, suffix := all[:headLen], all[headLen:]
	// The closing boundary starts with CRLF, which ends the file part.
	body := io.MultiReader(bytes.NewReader(prefix), r, bytes.NewReader(suffix))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), body)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.ContentLength = -1
	if size >= 0 {
		req.ContentLength = int64(len(prefix)) + size + int64(len(suffix))
	}
	return c.submit(req)
}

// SubmitURL asks the server to fetch videoURL and returns the new job's ID.
func (c *Client) SubmitURL(ctx context.Context, videoURL string, p Params) (string, error) {
	u, err := c.endpoint(pathSubmitURL, persistentQuery(p))
	if err != nil {
		return "", err
	}
	fields := p.Fields()
	fields.Set("video_url", videoURL)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := writeFields(mw, fields); err != nil {
		return "", err
	}
	if err := mw.Close(); err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), &body)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.submit(req)
}

// writeFields writes fields as form parts, in a stable order.
func writeFields(mw *multipart.Writer, fields url.Values) error {
	for _, k := range sortedKeys(fields) {
		if err := mw.WriteField(k, fields.Get(k)); err != nil {
			return err
		}
	}
	return nil
}

// submit sends a submission and returns the new job's ID.
func (c *Client) submit(req *http.Request) (string, error) {
	var out struct {
		JobID string `json:"job_id"`
	}
	if err := c.do(req, &out); err != nil {
		return "", err
	}
	if out.JobID == "" {
		return "", errors.New("client: submit: answer has no job_id")
	}
	return out.JobID, nil
}

// jobRequest is a request about the job id under the path prefix p.
func (c *Client) jobRequest(ctx context.Context, method, p, id string) (*http.Request, error) {
	if id == "" || strings.ContainsAny(id, "/?#") {
		return nil, fmt.Errorf("client: bad job id %q", id)
	}
	u, err := c.endpoint(p+id, nil)
	if err != nil {
		return nil, err
	}
	return http.NewRequestWithContext(ctx, method, u.String(), nil)
}

// Status fetches a job's status. An unknown id is ErrJobNotFound.
func (c *Client) Status(ctx context.Context, id string) (*Status, error) {
	req, err := c.jobRequest(ctx, http.MethodGet, pathStatus, id)
	if err != nil {
		return nil, err
	}
	var st Status
	if err := c.do(req, &st); err != nil {
		return nil, jobErr(err)
	}
	return &st, nil
}

// Cancel asks an audex server to cancel a job (its DELETE extension): a
// queued job is dropped, a running one stopped; either then reports the
// failed status with code "canceled". The server deletes a job that has
// already finished, with its result: check the status first to keep one
// (as 'audex cancel' does). An unknown id is ErrJobNotFound.
func (c *Client) Cancel(ctx context.Context, id string) error {
	req, err := c.jobRequest(ctx, http.MethodDelete, pathJob, id)
	if err != nil {
		return err
	}
	return jobErr(c.do(req, nil))
}

// Wait polls the job until it is no longer pending and returns its final
// status. each, when set, sees every status polled, the last one included.
// A 429/503 answer is retried after the server's Retry-After.
func (c *Client) Wait(ctx context.Context, id string, each func(*Status)) (*Status, error) {
	interval := c.PollInterval
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
		st, err := c.Status(ctx, id)
		var ae *APIError
		switch {
		case errors.As(err, &ae) && (ae.StatusCode == http.StatusTooManyRequests || ae.StatusCode == http.StatusServiceUnavailable):
			t.Reset(max(ae.RetryAfter, interval))
			continue
		case err != nil:
			return nil, err
		}
		if each != nil {
			each(st)
		}
		if st.Done() {
			return st, nil
		}
		t.Reset(interval)
	}
}

// Download is an open result download.
type Download struct {
	io.ReadCloser
	// Size is the body's length, -1 when unknown.
	Size int64
	// Filename is the name the server suggests (Content-Disposition), or
	// the last element of the URL's path.
	Filename string
}

// Open starts downloading the result of a successful job. The token is sent
// only when the result URL is on the configured server.
func (c *Client) Open(ctx context.Context, st *Status) (*Download, error) {
	if err := st.Err(); err != nil {
		return nil, err
	}
	if st.Status != StatusSuccessful || st.URL == "" {
		return nil, fmt.Errorf("%w: job %s is %s", ErrNotReady, st.JobID, st.Status)
	}
	base, err := c.base()
	if err != nil {
		return nil, err
	}
	u, err := base.Parse(st.URL)
	if err != nil {
		return nil, fmt.Errorf("client: result url %q: %w", st.URL, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if c.Token != "" && c.sameServer(u) {
		req.Header.Set(TokenHeader, c.Token)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: download: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, apiError(resp)
	}
	d := &Download{ReadCloser: resp.Body, Size: resp.ContentLength, Filename: path.Base(u.Path)}
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil && params["filename"] != "" {
		d.Filename = params["filename"]
	}
	d.Filename = safeName(d.Filename)
	return d, nil
}

// safeName keeps only a plain file name: no directories, no hidden files.
func safeName(s string) string {
	s = path.Base(strings.ReplaceAll(s, `\`, "/"))
	s = strings.TrimLeft(s, ".")
	if s == "" || s == "/" {
		return ""
	}
	return s
}

func sortedKeys(v url.Values) []string { return slices.Sorted(maps.Keys(v)) }
