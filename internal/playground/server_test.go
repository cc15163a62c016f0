package playground_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/httpapi"
)

// startServer runs the real audex HTTP service (with the real extraction
// pipeline) on a loopback port until the test ends, and returns its base URL
// and a token it accepts.
func startServer(t *testing.T) (base, token string) {
	t.Helper()
	token = "playground-test-token"
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- httpapi.Serve(ctx, ln, httpapi.Config{
			DataDir:      dir,
			Credentials:  []httpapi.Credential{{Owner: "tester", Token: token}},
			Workers:      1,
			DrainTimeout: 5 * time.Second,
			Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return "http://" + ln.Addr().String(), token
}
