package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A scrape is Prometheus text 0.0.4: every family's HELP and TYPE before
// its samples, families in name order, the service's metrics, the Go
// runtime's and the process's; gzipped for a scraper that accepts it.
func TestMetricsExposition(t *testing.T) {
	t.Parallel()
	b := newBundle(t, nil)
	b.do(b.newRequest(http.MethodGet, "/healthz", nil, ""))

	plain := b.newRequest(http.MethodGet, "/metrics", nil, "")
	plain.Header.Set("Accept-Encoding", "identity")
	r := b.do(plain)
	require.Equal(t, http.StatusOK, r.StatusCode)
	assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8; escaping=underscores", r.Header.Get("Content-Type"))
	assert.Empty(t, r.Header.Get("Content-Encoding"))
	text := string(r.body)

	var names []string
	typed := map[string]string{}
	for line := range strings.Lines(text) {
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "# HELP "):
			name := strings.Fields(line)[2]
			require.NotContains(t, names, name, "family %s written twice", name)
			names = append(names, name)
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			require.Len(t, f, 4, line)
			require.Equal(t, names[len(names)-1], f[2], "TYPE follows its HELP")
			assert.Contains(t, []string{"counter", "gauge", "histogram", "summary"}, f[3])
			typed[f[2]] = f[3]
		default:
			series, value, ok := strings.Cut(line, " ")
			require.True(t, ok, line)
			assert.NotEmpty(t, value, line)
			name, _, _ := strings.Cut(series, "{")
			family := names[len(names)-1]
			switch typed[family] {
			case "histogram":
				assert.Contains(t, []string{family + "_bucket", family + "_sum", family + "_count"}, name)
			case "summary":
				assert.Contains(t, []string{family, family + "_sum", family + "_count"}, name)
			default:
				assert.Equal(t, family, name)
			}
		}
	}
	assert.True(t, slices.IsSorted(names), "families in name order")
	for name, typ := range map[string]string{
		"audex_http_requests_total": "counter", "audex_http_request_duration_seconds": "histogram",
		"audex_jobs": "gauge", "audex_status_streams": "gauge", "audex_jobs_submitted_total": "counter",
		"go_goroutines": "gauge", "go_gc_duration_seconds": "summary", "go_memstats_alloc_bytes_total": "counter",
		"process_cpu_seconds_total": "counter", "process_resident_memory_bytes": "gauge",
	} {
		assert.Equal(t, typ, typed[name], name)
	}
	assert.Contains(t, text, `audex_http_request_duration_seconds_bucket{route="GET /healthz",le="0.001"} `)
	assert.Contains(t, text, `audex_http_request_duration_seconds_bucket{route="GET /healthz",le="+Inf"} 1`)
	assert.Contains(t, text, `audex_http_requests_total{code="200",route="GET /healthz"} 1`)

	// Go's client asks for gzip itself and undoes it.
	r = b.do(b.newRequest(http.MethodGet, "/metrics", nil, ""))
	assert.True(t, r.Uncompressed, "answered with gzip")
	assert.Contains(t, string(r.body), "# TYPE audex_jobs gauge\n")
}

func TestAcceptsGzip(t *testing.T) {
	t.Parallel()
	for h, want := range map[string]bool{
		"": false, "gzip": true, "deflate, gzip;q=1.0, *;q=0.5": true, "gzip;q=0": false, "identity": false, "x-gzip": false,
	} {
		assert.Equal(t, want, acceptsGzip(h), h)
	}
}
