package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAllowed(t *testing.T) {
	t.Parallel()
	never := []string{
		"0.0.0.0", "0.1.2.3", "::", "224.0.0.1", "239.255.255.250", "ff02::1", "ff01::1",
		"255.255.255.255", "240.0.0.1", "192.0.2.1", "198.51.100.7", "203.0.113.9", "198.18.0.1",
		"2001:db8::1", "2002:7f00:1::1", "2001::1", "100::1",
	}
	privateOnly := []string{
		"127.0.0.1", "127.5.6.7", "::1", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "fe80::1", "fc00::1", "fd12:3456::1", "100.64.0.1", "100.127.255.254",
		"::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", "64:ff9b::7f00:1", "64:ff9b::a00:1",
	}
	public := []string{"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"}
	for _, s := range never {
		a := netip.MustParseAddr(s)
		assert.False(t, Allowed(a, false), s)
		assert.False(t, Allowed(a, true), s)
	}
	for _, s := range privateOnly {
		a := netip.MustParseAddr(s)
		assert.False(t, Allowed(a, false), s)
		assert.True(t, Allowed(a, true), s)
	}
	for _, s := range public {
		assert.True(t, Allowed(netip.MustParseAddr(s), false), s)
	}
	assert.False(t, Allowed(netip.Addr{}, true))
	assert.False(t, Allowed(netip.MustParseAddr("fe80::1%eth0"), false))
}

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://example.com/a.mp4", "https://example.com:8443/a?b=c", "http://8.8.8.8/x", "http://[2606:4700::1111]/"} {
		assert.NoError(t, Check(u, false), u)
	}
	for _, u := range []string{"", "example.com/a.mp4", "ftp://example.com/a", "file:///etc/passwd", "gopher://x/",
		"http://", "http://user:pw@example.com/", "http://%zz/", "https://example.com/" + strings.Repeat("a", 5000)} {
		assert.ErrorIs(t, Check(u, true), ErrInvalidURL, u)
	}
	for _, u := range []string{"http://127.0.0.1/", "http://[::1]:80/", "http://169.254.169.254/latest/meta-data", "http://[::ffff:10.0.0.1]/", "http://0.0.0.0:8080/"} {
		assert.ErrorIs(t, Check(u, false), ErrForbiddenAddress, u)
	}
	assert.NoError(t, Check("http://127.0.0.1:8080/", true))
}

// server counts requests and serves body, or runs h when set.
func server(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestFetch(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("audex"), 100_000)
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "audex", r.UserAgent())
		w.Write(body)
	})
	f := New(&Options{AllowPrivate: true})
	defer f.CloseIdleConnections()
	var buf bytes.Buffer
	n, err := f.Fetch(t.Context(), srv.URL+"/clip.mp4", &buf)
	require.NoError(t, err)
	assert.Equal(t, int64(len(body)), n)
	assert.Equal(t, body, buf.Bytes())
	assert.Equal(t, int64(1), hits.Load())
}

func TestFetchRefusesLoopbackByDefault(t *testing.T) {
	t.Parallel()
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("secret")) })
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	f := New(nil)
	for _, u := range []string{
		srv.URL,
		// A name is checked on the address it resolves to, when dialing.
		fmt.Sprintf("http://localhost:%d/", port),
		fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", port),
	} {
		var buf bytes.Buffer
		_, err := f.Fetch(t.Context(), u, &buf)
		assert.ErrorIs(t, err, ErrForbiddenAddress, u)
		assert.Zero(t, buf.Len())
	}
	assert.Zero(t, hits.Load(), "no request reached the server")
}

// TestNewTransport: the transport other requests to client URLs use keeps
// the same dial-time guard.
func TestNewTransport(t *testing.T) {
	t.Parallel()
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	post := func(tr *http.Transport, u string) error {
		c := &http.Client{Transport: tr}
		defer c.CloseIdleConnections()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader("{}"))
		require.NoError(t, err)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	guarded := NewTransport(false, 5*time.Second)
	for _, u := range []string{srv.URL, fmt.Sprintf("http://localhost:%d/", port)} {
		assert.ErrorIs(t, post(guarded, u), ErrForbiddenAddress, u)
	}
	assert.Zero(t, hits.Load(), "no request reached the server")
	require.NoError(t, post(NewTransport(true, 5*time.Second), srv.URL))
	assert.Equal(t, int64(1), hits.Load())
}

func TestFetchChecksRedirectTargetsAtDial(t *testing.T) {
	t.Parallel()
	// The second server listens on another loopback address, which the
	// policy below forbids: the redirect must be refused when dialed.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this host: %v", err)
	}
	var forbiddenHits atomic.Int64
	forbidden := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forbiddenHits.Add(1)
	}))
	forbidden.Listener = ln
	forbidden.Start()
	defer forbidden.Close()
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, forbidden.URL+"/meta-data", http.StatusFound)
	})

	f := New(&Options{AllowPrivate: true})
	f.allowed = func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.1") }
	_, err = f.Fetch(t.Context(), srv.URL, io.Discard)
	assert.ErrorIs(t, err, ErrForbiddenAddress)
	assert.Zero(t, forbiddenHits.Load())

	// Redirects to other schemes are refused too.
	srv2, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})
	_, err = f.Fetch(t.Context(), srv2.URL, io.Discard)
	assert.ErrorIs(t, err, ErrInvalidURL)
}

func TestFetchRedirectLimit(t *testing.T) {
	t.Parallel()
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(strings.TrimPrefix(r.URL.Path, "/"), &n)
		if n == 0 {
			w.Write([]byte("done"))
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/%d", n-1), http.StatusFound)
	})
	f := New(&Options{AllowPrivate: true, MaxRedirects: 2})
	var buf bytes.Buffer
	_, err := f.Fetch(t.Context(), srv.URL+"/2", &buf)
	require.NoError(t, err)
	assert.Equal(t, "done", buf.String())
	hits.Store(0)
	_, err = f.Fetch(t.Context(), srv.URL+"/3", io.Discard)
	assert.ErrorIs(t, err, ErrTooManyRedirects)
	assert.Equal(t, int64(3), hits.Load())

	none := New(&Options{AllowPrivate: true, MaxRedirects: -1})
	_, err = none.Fetch(t.Context(), srv.URL+"/1", io.Discard)
	assert.ErrorIs(t, err, ErrTooManyRedirects)
}

func TestFetchSizeLimit(t *testing.T) {
	t.Parallel()
	const limit = 1000
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		n := limit + 1
		if r.URL.Path == "/exact" {
			n = limit
		}
		if r.URL.Path == "/chunked" {
			// Flushing first forces chunked encoding: no Content-Length.
			w.(http.Flusher).Flush()
			for range n {
				w.Write([]byte{'x'})
			}
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(n))
		w.Write(bytes.Repeat([]byte{'x'}, n))
	})
	f := New(&Options{AllowPrivate: true, MaxBytes: limit})
	n, err := f.Fetch(t.Context(), srv.URL+"/exact", io.Discard)
	require.NoError(t, err)
	assert.Equal(t, int64(limit), n)

	n, err = f.Fetch(t.Context(), srv.URL+"/declared", io.Discard)
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.Zero(t, n, "a declared length over the limit is refused before reading")

	n, err = f.Fetch(t.Context(), srv.URL+"/chunked", io.Discard)
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.Equal(t, int64(limit+1), n, "reading stops one byte past the limit")
}

func TestFetchStatus(t *testing.T) {
	t.Parallel()
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	_, err := New(&Options{AllowPrivate: true}).Fetch(t.Context(), srv.URL, io.Discard)
	assert.ErrorIs(t, err, ErrStatus)
	assert.Contains(t, err.Error(), "404")
}

func TestFetchTimeouts(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/trickle" {
			// A byte every 50 ms: never idle, but slower than Timeout.
			for {
				w.Write([]byte{'x'})
				w.(http.Flusher).Flush()
				select {
				case <-release:
					return
				case <-r.Context().Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
		w.Write([]byte("some"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)

	f := New(&Options{AllowPrivate: true, IdleTimeout: 200 * time.Millisecond, Timeout: time.Minute})
	start := time.Now()
	n, err := f.Fetch(t.Context(), srv.URL+"/stall", io.Discard)
	assert.ErrorIs(t, err, ErrTimeout)
	assert.Equal(t, int64(4), n)
	assert.Less(t, time.Since(start), 10*time.Second)

	f = New(&Options{AllowPrivate: true, IdleTimeout: 5 * time.Second, Timeout: 500 * time.Millisecond})
	_, err = f.Fetch(t.Context(), srv.URL+"/trickle", io.Discard)
	assert.ErrorIs(t, err, ErrTimeout)

	// The trickle never stalls, but brings less than MinProgress (16 KiB)
	// per IdleTimeout: cut off without waiting for Timeout.
	f = New(&Options{AllowPrivate: true, IdleTimeout: 200 * time.Millisecond, Timeout: time.Hour})
	_, err = f.Fetch(t.Context(), srv.URL+"/trickle", io.Discard)
	assert.ErrorIs(t, err, ErrTimeout)
	assert.ErrorContains(t, err, "less than 16384 bytes in 200ms")

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = New(&Options{AllowPrivate: true}).Fetch(ctx, srv.URL+"/stall", io.Discard)
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, errors.Is(err, ErrTimeout), "a caller's cancel is not a timeout: %v", err)
}
