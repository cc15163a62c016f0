package webhook

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/audex/audex/internal/fetch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const secret = "whsec_test-secret"

var (
	t0   = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	body = []byte(`{"job_id":"k3Xx0m9hQfWc7d2Xo1pH0w","status":"successful"}`)
)

func TestSignVerify(t *testing.T) {
	t.Parallel()
	h := Sign(secret, t0, body)
	assert.Regexp(t, `^t=1893553445,v1=[0-9a-f]{64}$`, h)
	require.NoError(t, Verify(secret, h, body, t0, 0))
	require.NoError(t, Verify(secret, h, body, t0.Add(DefaultTolerance), 0))
	require.NoError(t, Verify(secret, h, body, t0.Add(-DefaultTolerance), 0))

	v1 := strings.SplitN(h, ",", 2)[1]
	for name, tc := range map[string]struct {
		header string
		body   []byte
		secret string
		now    time.Time
		want   error
	}{
		"tampered body":            {h, bytes.Replace(body, []byte("successful"), []byte("failed"), 1), secret, t0, ErrSignature},
		"one byte more":            {h, append(bytes.Clone(body), ' '), secret, t0, ErrSignature},
		"tampered timestamp":       {"t=1893553446," + v1, body, secret, t0, ErrSignature},
		"timestamp of another day": {"t=1893467045," + v1, body, secret, t0.Add(-24 * time.Hour), ErrSignature},
		"other secret":             {h, body, "whsec_other", t0, ErrSignature},
		"too old":                  {h, body, secret, t0.Add(DefaultTolerance + time.Second), ErrTimestamp},
		"too far ahead":            {h, body, secret, t0.Add(-DefaultTolerance - time.Second), ErrTimestamp},
		"empty":                    {"", body, secret, t0, ErrNoSignature},
		"no timestamp":             {v1, body, secret, t0, ErrNoSignature},
		"no signature":             {"t=1893553445", body, secret, t0, ErrNoSignature},
		"two timestamps":           {"t=1893553445,t=1893553445," + v1, body, secret, t0, ErrNoSignature},
		"short signature":          {"t=1893553445,v1=abcd", body, secret, t0, ErrNoSignature},
		"negative timestamp":       {"t=-1," + v1, body, secret, t0, ErrNoSignature},
		"not hex":                  {"t=1893553445,v1=" + strings.Repeat("z", 64), body, secret, t0, ErrNoSignature},
	} {
		assert.ErrorIs(t, Verify(tc.secret, tc.header, tc.body, tc.now, 0), tc.want, name)
	}

	// A second signature (a secret being rotated), spaces and unknown
	// schemes are fine.
	other := strings.SplitN(Sign("whsec_other", t0, body), ",", 2)[1]
	require.NoError(t, Verify(secret, "t=1893553445, "+other+", v0=zz, "+v1, body, t0, 0))
	require.NoError(t, Verify(secret, h, body, t0.Add(time.Hour), 2*time.Hour), "a tolerance of the caller's")
}

// FuzzVerify: Verify never panics, and accepts only the signature Sign
// makes for exactly that body and timestamp (hex in either case: the same
// bytes).
func FuzzVerify(f *testing.F) {
	f.Add(Sign(secret, t0, body), body, int64(0))
	f.Add("t=1,v1=00", []byte("x"), int64(-5))
	f.Add("t=1893553445,v1="+strings.Repeat("0", 64)+",t=2", []byte{}, int64(400))
	f.Fuzz(func(t *testing.T, header string, b []byte, skew int64) {
		now := t0.Add(time.Duration(skew) * time.Second)
		err := Verify(secret, header, b, now, 0)
		if err == nil {
			// Only a header carrying Sign's signature for this body and
			// one of its timestamps passes.
			ts := -1
			for _, p := range strings.Split(header, ",") {
				if k, v, _ := strings.Cut(strings.TrimSpace(p), "="); k == "t" {
					ts, _ = strconv.Atoi(v)
				}
			}
			want := strings.SplitN(Sign(secret, time.Unix(int64(ts), 0), b), ",", 2)[1]
			if !strings.Contains(strings.ToLower(strings.ReplaceAll(header, " ", "")), want) {
				t.Fatalf("accepted %q for %q", header, b)
			}
		}
	})
}

// receiver is a loopback webhook receiver that records what it gets.
type receiver struct {
	*httptest.Server
	hits    atomic.Int64
	mu      sync.Mutex
	headers []http.Header
	bodies  [][]byte
}

func newReceiver(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.headers = append(rc.headers, r.Header.Clone())
		rc.bodies = append(rc.bodies, b)
		rc.mu.Unlock()
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func sender(t *testing.T, o Options) *Sender {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return t0 }
	}
	s := NewSender(&o)
	t.Cleanup(s.CloseIdleConnections)
	return s
}

func TestSend(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	s := sender(t, Options{AllowPrivate: true})
	require.NoError(t, s.Send(t.Context(), Message{URL: rc.URL + "/hook?k=v", ID: "delivery-1", Attempt: 2, Secret: secret, Body: body}))
	require.Equal(t, int64(1), rc.hits.Load())
	h, b := rc.headers[0], rc.bodies[0]
	assert.Equal(t, body, b)
	assert.Equal(t, "application/json", h.Get("Content-Type"))
	assert.Equal(t, "delivery-1", h.Get(DeliveryHeader))
	assert.Equal(t, "2", h.Get(AttemptHeader))
	assert.Equal(t, "audex-webhook", h.Get("User-Agent"))
	require.NoError(t, Verify(secret, h.Get(SignatureHeader), b, t0, 0))
}

func TestSendOutcomes(t *testing.T) {
	t.Parallel()
	s := sender(t, Options{AllowPrivate: true, Timeout: 500 * time.Millisecond})
	send := func(url string) error {
		return s.Send(t.Context(), Message{URL: url, ID: "d", Attempt: 1, Secret: secret, Body: body})
	}

	t.Run("5xx is retried", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusInternalServerError) })
		err := send(rc.URL)
		require.ErrorIs(t, err, ErrStatus)
		assert.Contains(t, err.Error(), "500 Internal Server Error")
		assert.False(t, Permanent(err))
	})

	t.Run("410 stops", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) })
		err := send(rc.URL)
		require.ErrorIs(t, err, ErrGone)
		assert.True(t, Permanent(err))
	})

	t.Run("redirects are not followed", func(t *testing.T) {
		t.Parallel()
		target := newReceiver(t, nil)
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
		})
		err := send(rc.URL)
		require.ErrorIs(t, err, ErrStatus)
		assert.Contains(t, err.Error(), "307")
		assert.Zero(t, target.hits.Load())
	})

	t.Run("a huge answer is cut", func(t *testing.T) {
		t.Parallel()
		var wrote atomic.Int64
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			for range 1 << 10 { // up to 64 MiB
				n, err := w.Write(chunk)
				wrote.Add(int64(n))
				if err != nil {
					return
				}
			}
		})
		require.NoError(t, send(rc.URL))
		rc.CloseClientConnections()
		assert.Less(t, wrote.Load(), int64(32<<20), "the sender hung up long before the end")
	})

	t.Run("a receiver that hangs times out", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		err := send(rc.URL)
		require.Error(t, err)
		assert.False(t, Permanent(err))
		assert.NotContains(t, err.Error(), rc.URL, "the URL is not repeated in the error")
	})

	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		ln.Close()
		err = send("http://" + addr + "/")
		require.Error(t, err)
		assert.False(t, Permanent(err))
	})
}

// TestSendRefusesPrivateAddresses: without AllowPrivate, nothing reaches a
// loopback receiver, named by address or by a name that resolves to it, and
// a private literal address is refused before any connection.
func TestSendRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	port := rc.Listener.Addr().(*net.TCPAddr).Port
	s := sender(t, Options{})
	for _, u := range []string{
		rc.URL,
		fmt.Sprintf("http://localhost:%d/hook", port),
		fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", port),
		"http://10.1.2.3/hook",
		"http://192.168.0.1:8080/",
		"http://169.254.169.254/latest/meta-data",
		"http://[fd00::1]/",
	} {
		err := s.Send(t.Context(), Message{URL: u, ID: "d", Attempt: 1, Secret: secret, Body: body})
		require.ErrorIs(t, err, fetch.ErrForbiddenAddress, u)
		assert.True(t, Permanent(err), u)
	}
	for _, u := range []string{"ftp://example.com/", "http://user:pw@example.com/", "/relative"} {
		err := s.Send(t.Context(), Message{URL: u, ID: "d", Attempt: 1, Secret: secret, Body: body})
		require.ErrorIs(t, err, fetch.ErrInvalidURL, u)
		assert.True(t, Permanent(err), u)
	}
	assert.Zero(t, rc.hits.Load(), "nothing reached the receiver")
}
