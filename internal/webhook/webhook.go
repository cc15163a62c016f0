// Package webhook sends and checks audex's job notifications: a POST of a
// JSON body to a URL a client gave, signed so that its receiver can tell it
// came from the service and was not changed or replayed late.
//
// The signature header is
//
//	Audex-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// computed over the timestamp and the raw body bytes with the receiver's
// secret; a receiver recomputes it (Verify) and refuses a message whose
// timestamp is further than a tolerance from its own clock. More than one
// v1 may appear (a secret being rotated); one matching is enough. The
// Audex-Delivery header carries the notification's id, the same on every
// attempt: delivery is at least once, and a receiver drops copies by it.
//
// A Sender makes one attempt per Send, with short timeouts, a cap on the
// response it reads, no redirects followed and the address guard of
// package fetch (no loopback or private addresses unless allowed, checked
// as each connection is dialed).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/audex/audex/internal/fetch"
)

// Header names.
const (
	// SignatureHeader carries the timestamp and signature of a message.
	SignatureHeader = "Audex-Signature"
	// DeliveryHeader carries the notification id, the same on every attempt.
	DeliveryHeader = "Audex-Delivery"
	// AttemptHeader carries the attempt number, 1 for the first.
	AttemptHeader = "Audex-Delivery-Attempt"
)

// DefaultTolerance is how far Verify lets a timestamp be from now when
// given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify.
var (
	// ErrNoSignature: the header is missing or malformed.
	ErrNoSignature = errors.New("webhook: no valid signature header")
	// ErrSignature: no signature in the header matches the body and
	// timestamp under the secret.
	ErrSignature = errors.New("webhook: signature mismatch")
	// ErrTimestamp: the signature matches, but its timestamp is further
	// from now than the tolerance (a replay, or a clock far off).
	ErrTimestamp = errors.New("webhook: timestamp outside the tolerance")
)

// Errors of Send. An error that wraps none of them is a network failure
// or a timeout: worth another attempt.
var (
	// ErrStatus: the receiver answered with a status other than 2xx.
	ErrStatus = errors.New("webhook: receiver refused")
	// ErrGone: the receiver answered 410 Gone: it wants no more attempts.
	ErrGone = errors.New("webhook: receiver answered 410 Gone")
)

// Permanent reports whether another attempt after err is pointless: the
// receiver answered 410 Gone, or the URL is invalid or its address is one
// the sender may not connect to.
func Permanent(err error) bool {
	return errors.Is(err, ErrGone) || errors.Is(err, fetch.ErrForbiddenAddress) || errors.Is(err, fetch.ErrInvalidURL)
}

// mac returns HMAC-SHA256(secret, "<t>.<body>").
func mac(secret string, t int64, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(strconv.AppendInt(nil, t, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the SignatureHeader value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := t.Unix()
	return "t=" + strconv.FormatInt(ts, 10) + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

// Verify checks a message: header is its SignatureHeader value and body its
// raw bytes, as received. It returns nil when a v1 signature matches
// (compared in constant time) and the timestamp is within tolerance of now
// (DefaultTolerance when tolerance is 0 or less); else ErrNoSignature,
// ErrSignature or ErrTimestamp. The signature is checked first, so a
// forged timestamp learns nothing.
func Verify(secret string, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if len(header) > 4096 {
		return ErrNoSignature
	}
	var ts int64
	haveT := false
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrNoSignature
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || haveT || n < 0 {
				return ErrNoSignature
			}
			ts, haveT = n, true
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return ErrNoSignature
			}
			sigs = append(sigs, b)
		}
		// Other schemes are for other versions: ignored.
	}
	if !haveT || len(sigs) == 0 {
		return ErrNoSignature
	}
	want := mac(secret, ts, body)
	ok := false
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			ok = true
		}
	}
	if !ok {
		return ErrSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed at %s, %v from now", ErrTimestamp, time.Unix(ts, 0).UTC().Format(time.RFC3339), d.Round(time.Second))
	}
	return nil
}

// Options configure a Sender. The zero value is usable.
type Options struct {
	// AllowPrivate lets messages go to loopback, private and link-local
	// addresses (package fetch's rule). For tests and closed networks.
	AllowPrivate bool
	// Timeout bounds one attempt: connecting, sending, the answer's
	// headers and the reading of its body. Defaults to 10 s.
	Timeout time.Duration
	// MaxResponseBytes is how much of an answer's body is read (and
	// dropped) before the connection is closed. Defaults to 64 KiB.
	MaxResponseBytes int64
	// UserAgent sent with messages. Defaults to "audex-webhook".
	UserAgent string
	// Now is the clock of the signature timestamps. Defaults to time.Now.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxResponseBytes = 64 << 10
)

// Sender posts signed messages. It is safe for concurrent use.
type Sender struct {
	opts   Options
	client *http.Client
}

// NewSender returns a Sender with opts (nil for the defaults).
func NewSender(opts *Options) *Sender {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.UserAgent == "" {
		o.UserAgent = "audex-webhook"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	tr := fetch.NewTransport(o.AllowPrivate, o.Timeout)
	// Messages are few and far between: a connection per message, and no
	// idle connections (nor their goroutines) left behind.
	tr.DisableKeepAlives = true
	return &Sender{opts: o, client: &http.Client{
		Transport: tr,
		Timeout:   o.Timeout,
		// A redirect is an answer like any other non-2xx one: never
		// followed, so a receiver cannot send the service elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Message is one attempt at a notification.
type Message struct {
	// URL to post to: http or https.
	URL string
	// ID is the notification id (DeliveryHeader); Attempt its attempt
	// number (AttemptHeader).
	ID      string
	Attempt int
	// Secret signs the message.
	Secret string
	// Body is the JSON sent, as it is signed.
	Body []byte
}

// Send posts m once. It returns nil when the receiver answered 2xx;
// otherwise an error wrapping ErrGone (410), ErrStatus (any other answer,
// redirects included), fetch.ErrInvalidURL or fetch.ErrForbiddenAddress
// (nothing was sent), or the network's or the timeout's error.
func (s *Sender) Send(ctx context.Context, m Message) error {
	if err := fetch.Check(m.URL, s.opts.AllowPrivate); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(m.Body))
	if err != nil {
		return fmt.Errorf("webhook: %w: %v", fetch.ErrInvalidURL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.opts.UserAgent)
	req.Header.Set(DeliveryHeader, m.ID)
	req.Header.Set(AttemptHeader, strconv.Itoa(m.Attempt))
	req.Header.Set(SignatureHeader, Sign(m.Secret, s.opts.Now(), m.Body))
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: post: %w", unwrapURLError(err))
	}
	defer resp.Body.Close()
	// Read a little of the answer (a receiver may want to finish writing
	// it), never more than the cap.
	io.Copy(io.Discard, io.LimitReader(resp.Body, s.opts.MaxResponseBytes))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusGone:
		return ErrGone
	}
	return fmt.Errorf("%w: %s", ErrStatus, resp.Status)
}

// unwrapURLError drops the *url.Error around a transport error: it repeats
// the method and URL, which the caller knows (and the URL's query may hold
// the receiver's own secret).
func unwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok && ue.Err != nil {
		return ue.Err
	}
	return err
}

// CloseIdleConnections closes kept-alive connections.
func (s *Sender) CloseIdleConnections() { s.client.CloseIdleConnections() }
