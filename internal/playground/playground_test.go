package playground_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/playground"
)

func get(t *testing.T, h http.Handler, method, path string, hdr http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return string(b)
}

func TestPage(t *testing.T) {
	t.Parallel()
	h := playground.Handler()
	res := get(t, h, http.MethodGet, "/", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	page := body(t, res)
	assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	assert.Contains(t, res.Header.Get("Content-Security-Policy"), "script-src 'self'")
	assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
	assert.Contains(t, page, "<title>audex playground")

	// Every local asset the page references is served with its type; the
	// page references nothing off the origin (it must work offline).
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	want := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
	served := 0
	for _, m := range refs {
		ref := m[1]
		assert.NotRegexp(t, `^(https?:)?//`, ref, "the page must not load anything from another origin")
		if !strings.HasPrefix(ref, playground.AssetPrefix) {
			continue
		}
		res := get(t, h, http.MethodGet, ref, nil)
		require.Equal(t, http.StatusOK, res.StatusCode, ref)
		ext := ref[strings.LastIndex(ref, "."):]
		assert.Equal(t, want[ext], res.Header.Get("Content-Type"), ref)
		assert.NotEmpty(t, body(t, res), ref)
		served++
	}
	assert.Equal(t, 3, served, "the stylesheet and the two scripts")
}

func TestConditionalAndHead(t *testing.T) {
	t.Parallel()
	h := playground.Handler()
	for _, p := range []string{"/", playground.AssetPrefix + "app.js", playground.AssetPrefix + "style.css"} {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			full := get(t, h, http.MethodGet, p, nil)
			n := len(body(t, full))
			etag := full.Header.Get("ETag")
			require.NotEmpty(t, etag)
			assert.Equal(t, "no-cache", full.Header.Get("Cache-Control"))

			res := get(t, h, http.MethodGet, p, http.Header{"If-None-Match": {etag}})
			assert.Equal(t, http.StatusNotModified, res.StatusCode)
			assert.Empty(t, body(t, res))

			res = get(t, h, http.MethodHead, p, nil)
			assert.Equal(t, http.StatusOK, res.StatusCode)
			assert.Equal(t, int64(n), res.ContentLength)
			assert.Empty(t, body(t, res))
		})
	}
}

func TestNotFoundAndMethod(t *testing.T) {
	t.Parallel()
	h := playground.Handler()
	for _, p := range []string{"/index.html", "/playground/", "/playground/nope.js", "/playground/../static/app.js", "/favicon.ico"} {
		res := get(t, h, http.MethodGet, p, nil)
		assert.Equal(t, http.StatusNotFound, res.StatusCode, p)
		assert.Equal(t, "application/json", res.Header.Get("Content-Type"), p)
		var e struct{ Error, Code string }
		require.NoError(t, json.Unmarshal([]byte(body(t, res)), &e), p)
		assert.Equal(t, "not found", e.Error, p)
		assert.Equal(t, "not_found", e.Code, p)
	}
	res := get(t, h, http.MethodPost, "/", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
	assert.Equal(t, "GET, HEAD", res.Header.Get("Allow"))
}

// TestPageWiring checks the page's static consistency: every form control
// has a label, and every element id the script looks up exists.
func TestPageWiring(t *testing.T) {
	t.Parallel()
	h := playground.Handler()
	page := body(t, get(t, h, http.MethodGet, "/", nil))
	script := body(t, get(t, h, http.MethodGet, playground.AssetPrefix+"app.js", nil))

	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`\sid="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		assert.False(t, ids[m[1]], "duplicate id %q", m[1])
		ids[m[1]] = true
	}
	labelled := map[string]bool{}
	for _, m := range regexp.MustCompile(`<label for="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		assert.True(t, ids[m[1]], "label for missing id %q", m[1])
		labelled[m[1]] = true
	}
	controls := regexp.MustCompile(`<(input|select|textarea|button)\b[^>]*>`).FindAllString(page, -1)
	require.NotEmpty(t, controls)
	idOf := regexp.MustCompile(`\sid="([^"]+)"`)
	for _, c := range controls {
		if strings.HasPrefix(c, "<button") {
			continue // named by their text or aria-label; checked in the browser test
		}
		m := idOf.FindStringSubmatch(c)
		require.NotNil(t, m, "control without id: %s", c)
		assert.True(t, labelled[m[1]] || strings.Contains(c, "aria-label="), "control without a label: %s", c)
	}

	looked := regexp.MustCompile(`\$\('([A-Za-z0-9_-]+)'\)`).FindAllStringSubmatch(script, -1)
	require.NotEmpty(t, looked)
	for _, m := range looked {
		assert.True(t, ids[m[1]], "app.js looks up #%s, which the page lacks", m[1])
	}
	fields := regexp.MustCompile(`setError\('([a-z_]+)'|: \['([a-z_]+)', '`).FindAllStringSubmatch(script, -1)
	require.NotEmpty(t, fields)
	for _, m := range fields {
		m[1] += m[2]
		assert.True(t, m[1] == "form" || ids[m[1]+"-error"], "no error slot for field %q", m[1])
	}
}
