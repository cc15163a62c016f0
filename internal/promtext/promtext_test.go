package promtext

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The expected text is what the official client (client_golang 1.25)
// wrote for the same metrics and observations.
func TestExposition(t *testing.T) {
	t.Parallel()
	var r Registry
	c := NewCounterVec(Opts{Name: "a_total", Help: "h \\ x\ny"}, "route", "code")
	h := NewHistogramVec(Opts{Name: "lat", Help: "lat"}, ExponentialBuckets(0.05, 2, 4), "route")
	g := NewGauge(Opts{Name: "g", Help: "g"})
	n := NewCounter(Opts{Name: "n_total", Help: "n"})
	e := NewCounterVec(Opts{Name: "empty_total", Help: "never used: not written"}, "x")
	r.Register(c, h, g, n, e)
	for _, l := range [][2]string{{"GET /x", "200"}, {"a\"b\\c\nd", "404"}, {"GET /x", "500"}, {"B", "200"}, {"GET /x", "200"}} {
		c.WithLabelValues(l[0], l[1]).Inc()
	}
	for _, v := range []float64{0.01, 0.05, 0.1, 3, 1e9, 0.4, 0.0500001} {
		h.WithLabelValues("r").Observe(v)
		h.WithLabelValues("q").Observe(v * 2)
	}
	g.Set(1.5e-7)
	n.Add(123456789)
	n.Add(-5) // ignored: counters only go up
	var b bytes.Buffer
	_, err := r.WriteTo(&b)
	require.NoError(t, err)
	assert.Equal(t, `# HELP a_total h \\ x\ny
# TYPE a_total counter
a_total{code="200",route="B"} 1
a_total{code="200",route="GET /x"} 2
a_total{code="404",route="a\"b\\c\nd"} 1
a_total{code="500",route="GET /x"} 1
# HELP g g
# TYPE g gauge
g 1.5e-07
# HELP lat lat
# TYPE lat histogram
lat_bucket{route="q",le="0.05"} 1
lat_bucket{route="q",le="0.1"} 2
lat_bucket{route="q",le="0.2"} 4
lat_bucket{route="q",le="0.4"} 4
lat_bucket{route="q",le="+Inf"} 7
lat_sum{route="q"} 2.00000000722e+09
lat_count{route="q"} 7
lat_bucket{route="r",le="0.05"} 2
lat_bucket{route="r",le="0.1"} 4
lat_bucket{route="r",le="0.2"} 4
lat_bucket{route="r",le="0.4"} 5
lat_bucket{route="r",le="+Inf"} 7
lat_sum{route="r"} 1.00000000361e+09
lat_count{route="r"} 7
# HELP n_total n
# TYPE n_total counter
n_total 1.23456789e+08
`, b.String())
}

func TestRuntimeCollectors(t *testing.T) {
	t.Parallel()
	var r Registry
	r.Register(GoCollector(), ProcessCollector())
	var b bytes.Buffer
	_, err := r.WriteTo(&b)
	require.NoError(t, err)
	out := b.String()
	for _, want := range []string{
		"# TYPE go_gc_duration_seconds summary\n", `go_gc_duration_seconds{quantile="0.5"} `, "go_gc_duration_seconds_count ",
		"# TYPE go_goroutines gauge\ngo_goroutines ", `go_info{version="go`, "go_threads ", "go_memstats_alloc_bytes_total ",
		"# TYPE go_memstats_mallocs_total counter\n", "go_memstats_next_gc_bytes ", "go_gc_gogc_percent ", "go_gc_gomemlimit_bytes ",
		"go_sched_gomaxprocs_threads ", "process_cpu_seconds_total ", "process_open_fds ", "process_max_fds ",
		"process_virtual_memory_bytes ", "process_virtual_memory_max_bytes ", "process_resident_memory_bytes ",
		"process_start_time_seconds 1.", "process_network_receive_bytes_total ", "process_network_transmit_bytes_total ",
	} {
		assert.Contains(t, out, want)
	}
	assert.Equal(t, 22, strings.Count(out, "# TYPE go_memstats_"), "the official client's 22 go_memstats_ families")
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	var r Registry
	c := NewCounterVec(Opts{Name: "c_total"}, "k")
	h := NewHistogram(Opts{Name: "h"}, []float64{1, 2})
	g := NewGauge(Opts{Name: "g"})
	r.Register(c, h, g)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 1000 {
				c.WithLabelValues([]string{"a", "b"}[j%2]).Inc()
				h.Observe(float64(i % 3))
				g.Inc()
				if j%100 == 0 {
					r.WriteTo(&bytes.Buffer{})
				}
			}
		})
	}
	wg.Wait()
	var b bytes.Buffer
	r.WriteTo(&b)
	assert.Contains(t, b.String(), "c_total{k=\"a\"} 4000\nc_total{k=\"b\"} 4000\n")
	assert.Contains(t, b.String(), "h_count 8000\n")
	assert.Contains(t, b.String(), "g 8000\n")
	assert.Contains(t, b.String(), "h_bucket{le=\"+Inf\"} 8000\n")
}

func TestPanicsOnMisuse(t *testing.T) {
	t.Parallel()
	assert.Panics(t, func() { NewCounterVec(Opts{Name: "x"}, "a").WithLabelValues() })
	assert.Panics(t, func() { NewHistogram(Opts{Name: "x"}, []float64{2, 1}) })
}
