// Package fetch downloads a client-supplied URL with the limits a public
// service needs: bounded size, time and redirects, http and https only, and no
// connections to loopback, private, link-local or otherwise special addresses
// unless the operator allows them. NewTransport gives other requests to
// client-supplied URLs (webhooks) the same address guard.
//
// The address check runs on the socket's resolved IP at dial time (in
// net.Dialer.Control), after DNS, for every connection including those of
// redirects, so a name that resolves to a public address when checked and to
// 127.0.0.1 when dialed (DNS rebinding) is still refused. Proxies from the
// environment are ignored: they would dial on the caller's behalf.
//
//	f := fetch.New(fetch.Options{MaxBytes: 2 << 30})
//	n, err := f.Fetch(ctx, "https://example.com/clip.mp4", file)
package fetch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Sentinel errors. Fetch wraps one of these (or a context or network error)
// with the step that failed.
var (
	// ErrInvalidURL: not an absolute http or https URL with a host.
	ErrInvalidURL = errors.New("invalid URL")
	// ErrForbiddenAddress: the host resolves to an address the fetcher may
	// not connect to.
	ErrForbiddenAddress = errors.New("forbidden address")
	// ErrTooLarge: the body is longer than Options.MaxBytes.
	ErrTooLarge = errors.New("response too large")
	// ErrTooManyRedirects: more than Options.MaxRedirects redirects.
	ErrTooManyRedirects = errors.New("too many redirects")
	// ErrStatus: the server answered with a status other than 200.
	ErrStatus = errors.New("unexpected HTTP status")
	// ErrTimeout: the fetch took longer than Options.Timeout, or the body
	// brought less than Options.MinProgress bytes in an Options.IdleTimeout.
	ErrTimeout = errors.New("fetch timed out")
)

// Defaults of Options.
const (
	DefaultMaxBytes     = 2 << 30
	DefaultTimeout      = 10 * time.Minute
	DefaultIdleTimeout  = 30 * time.Second
	DefaultMinProgress  = 16 << 10
	DefaultMaxRedirects = 5
	maxURLLen           = 4096
)

// Options configure a Fetcher. The zero value is usable.
type Options struct {
	// MaxBytes is the largest body accepted. Defaults to 2 GiB.
	MaxBytes int64
	// Timeout bounds the whole fetch. Defaults to 10 minutes.
	Timeout time.Duration
	// IdleTimeout bounds the wait for the response headers, and each such
	// period of the body must bring MinProgress bytes (or its end): a server
	// that trickles is cut off as one that stalls. Defaults to 30 s.
	IdleTimeout time.Duration
	// MinProgress is what the body must deliver per IdleTimeout. Defaults
	// to 16 KiB (about 550 bytes a second at the default IdleTimeout, the
	// HTTP service's rule for uploads); negative means any byte.
	MinProgress int64
	// MaxRedirects is how many redirects are followed. Defaults to 5; a
	// negative value follows none.
	MaxRedirects int
	// AllowPrivate permits loopback, private (RFC 1918, ULA), link-local
	// and CGNAT addresses. Meant for tests and closed networks.
	AllowPrivate bool
	// UserAgent sent with requests. Defaults to "audex".
	UserAgent string
}

// Fetcher downloads URLs. It is safe for concurrent use.
type Fetcher struct {
	opts   Options
	client *http.Client
	// allowed replaces Allowed in tests.
	allowed func(netip.Addr) bool
}

// New returns a Fetcher with opts (nil for the defaults).
func New(opts *Options) *Fetcher {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MinProgress == 0 {
		o.MinProgress = DefaultMinProgress
	}
	o.MinProgress = max(o.MinProgress, 1)
	if o.MaxRedirects == 0 {
		o.MaxRedirects = DefaultMaxRedirects
	}
	if o.UserAgent == "" {
		o.UserAgent = "audex"
	}
	f := &Fetcher{opts: o}
	f.client = &http.Client{
		Transport: newTransport(o.IdleTimeout, f.control),
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > max(o.MaxRedirects, 0) {
				return fmt.Errorf("%w: more than %d", ErrTooManyRedirects, max(o.MaxRedirects, 0))
			}
			return checkURL(req.URL)
		},
	}
	return f
}

// NewTransport returns a transport for requests to URLs that clients
// supply (video_url, webhook_url), with the rules a Fetcher keeps: no proxy
// from the environment (it would dial on the caller's behalf), and every
// connection's address checked by Allowed(addr, allowPrivate) as it is
// dialed, after DNS. timeout bounds the dial, the TLS handshake and the wait
// for the response headers. It follows nothing itself: redirects are the
// http.Client's business (CheckRedirect).
func NewTransport(allowPrivate bool, timeout time.Duration) *http.Transport {
	return newTransport(timeout, func(network, address string, c syscall.RawConn) error {
		return control(network, address, func(a netip.Addr) bool { return Allowed(a, allowPrivate) })
	})
}

func newTransport(timeout time.Duration, ctl func(network, address string, c syscall.RawConn) error) *http.Transport {
	dialer := &net.Dialer{
		Timeout:   timeout,
		KeepAlive: 30 * time.Second,
		Control:   ctl,
	}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxIdleConns:           16,
		IdleConnTimeout:        30 * time.Second,
		ForceAttemptHTTP2:      true,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// CloseIdleConnections closes kept-alive connections.
func (f *Fetcher) CloseIdleConnections() { f.client.CloseIdleConnections() }

// Check reports whether rawURL is a URL Fetch would try: absolute http or
// https with a host, no user info, at most 4096 bytes, and, when the host is
// an IP address, one that Allowed accepts. It does not resolve names: Fetch
// checks the addresses a name resolves to when it dials them.
func Check(rawURL string, allowPrivate bool) error {
	if len(rawURL) > maxURLLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidURL, maxURLLen)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidURL, err)
	}
	if err := checkURL(u); err != nil {
		return err
	}
	if addr, err := netip.ParseAddr(u.Hostname()); err == nil && !Allowed(addr, allowPrivate) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, addr)
	}
	return nil
}

func checkURL(u *url.URL) error {
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%w: scheme %q (want http or https)", ErrInvalidURL, u.Scheme)
	case u.Hostname() == "":
		return fmt.Errorf("%w: no host", ErrInvalidURL)
	case u.User != nil:
		return fmt.Errorf("%w: credentials in URL", ErrInvalidURL)
	}
	return nil
}

// control runs after name resolution, on the address about to be dialed.
func (f *Fetcher) control(network, address string, _ syscall.RawConn) error {
	allowed := f.allowed
	if allowed == nil {
		allowed = func(a netip.Addr) bool { return Allowed(a, f.opts.AllowPrivate) }
	}
	return control(network, address, allowed)
}

// control is the dial-time check of every transport of this package: TCP
// to an address allowed accepts.
func control(network, address string, allowed func(netip.Addr) bool) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
	}
	if !strings.HasPrefix(network, "tcp") {
		return fmt.Errorf("%w: network %s", ErrForbiddenAddress, network)
	}
	if !allowed(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}

// special lists ranges that are never public destinations, beyond what
// netip.Addr's predicates cover.
var special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments (incl. Teredo)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds an IPv4 address
}

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// private lists ranges allowed only with AllowPrivate, beyond IsPrivate.
var private = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"), // CGNAT
}

// Allowed reports whether the fetcher may connect to addr. Unspecified,
// multicast and reserved addresses are never allowed; loopback, private,
// link-local and CGNAT addresses only with allowPrivate. IPv4-mapped IPv6
// addresses are judged as the IPv4 address they carry.
func Allowed(addr netip.Addr, allowPrivate bool) bool {
	addr = addr.Unmap()
	if nat64.Contains(addr) {
		// The well-known NAT64 prefix reaches the IPv4 address in its low bits.
		b := addr.As16()
		addr = netip.AddrFrom4([4]byte(b[12:]))
	}
	if !addr.IsValid() || addr.IsUnspecified() || addr.IsMulticast() ||
		addr.IsInterfaceLocalMulticast() || addr.IsLinkLocalMulticast() {
		return false
	}
	if addr.Is6() && addr.Zone() != "" && !allowPrivate {
		return false
	}
	for _, p := range special {
		if p.Contains(addr) {
			return false
		}
	}
	isPrivate := addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast()
	for _, p := range private {
		isPrivate = isPrivate || p.Contains(addr)
	}
	return allowPrivate || !isPrivate
}

// Fetch downloads url into dst and returns the bytes written. It fails with
// ErrTooLarge as soon as the body passes MaxBytes (a Content-Length over the
// limit fails before reading); dst then holds a partial body that the caller
// discards.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string, dst io.Writer) (int64, error) {
	if err := Check(rawURL, f.opts.AllowPrivate); err != nil {
		return 0, fmt.Errorf("fetch: %w", err)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, f.opts.Timeout, fmt.Errorf("%w: after %v", ErrTimeout, f.opts.Timeout))
	defer cancel()
	ctx, stall := context.WithCancelCause(ctx)
	defer stall(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, fmt.Errorf("fetch: %w: %v", ErrInvalidURL, err)
	}
	req.Header.Set("User-Agent", f.opts.UserAgent)
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("fetch: request: %w", f.cause(ctx, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("fetch: %w: %s", ErrStatus, resp.Status)
	}
	if resp.ContentLength > f.opts.MaxBytes {
		return 0, fmt.Errorf("fetch: %w: Content-Length %d over %d", ErrTooLarge, resp.ContentLength, f.opts.MaxBytes)
	}

	// Every IdleTimeout must bring MinProgress bytes.
	idle := time.AfterFunc(f.opts.IdleTimeout, func() {
		stall(fmt.Errorf("%w: less than %d bytes in %v", ErrTimeout, f.opts.MinProgress, f.opts.IdleTimeout))
	})
	defer idle.Stop()
	body := &idleReader{r: resp.Body, idle: idle, d: f.opts.IdleTimeout, min: f.opts.MinProgress}
	n, err := io.Copy(dst, io.LimitReader(body, f.opts.MaxBytes+1))
	if n > f.opts.MaxBytes {
		return n, fmt.Errorf("fetch: %w: over %d bytes", ErrTooLarge, f.opts.MaxBytes)
	}
	if err != nil {
		return n, fmt.Errorf("fetch: read body: %w", f.cause(ctx, err))
	}
	return n, nil
}

// cause prefers the context's cause (a timeout, a stall or the caller's
// cancel) over the transport's rendering of it.
func (f *Fetcher) cause(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	if c := context.Cause(ctx); !errors.Is(err, c) {
		return fmt.Errorf("%w: %w", c, err)
	}
	return err
}

type idleReader struct {
	r     io.Reader
	idle  *time.Timer
	d     time.Duration
	min   int64
	since int64 // bytes since the timer was last reset
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.since += int64(n)
	if r.since >= r.min {
		r.idle.Reset(r.d)
		r.since = 0
	}
	return n, err
}
