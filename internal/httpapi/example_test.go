package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/audex/audex/internal/httpapi"
	"github.com/audex/audex/jobs"
)

// A program that owns its job manager mounts the service with New.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "audex-example")
	defer os.RemoveAll(dir)
	m, err := jobs.New(jobs.Config{Dir: dir, Workers: 1})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	creds, _ := httpapi.ParseCredentials(strings.NewReader("alice token s3cret"))
	s, err := httpapi.New(httpapi.Config{
		DataDir:     dir,
		Credentials: creds,
		Logger:      slog.New(slog.DiscardHandler),
	}, m)
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()

	for _, token := range []string{"wrong", "s3cret"} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/job/extract/video/audio/status/AAAAAAAAAAAAAAAAAAAAAA", nil)
		req.Header.Set("apy-token", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Print(resp.StatusCode, " ", string(body))
	}
	// Output:
	// 401 {"error":"missing or invalid credentials","code":"unauthorized"}
	// 404 {"error":"not found","code":"not_found"}
}
