package httpapi

import (
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/audex/audex/internal/promtext"
	"github.com/audex/audex/jobs"
)

// metrics are the service's Prometheus metrics, in a registry of its own
// (so that several servers can live in one process, as in tests). They are
// written by internal/promtext, not the official client: its package
// initialisation cost every audex process milliseconds.
type metrics struct {
	reg         promtext.Registry
	requests    *promtext.CounterVec
	latency     *promtext.HistogramVec
	submitted   *promtext.CounterVec
	uploadBytes *promtext.CounterVec
	resultBytes *promtext.CounterVec
	// resultRedirects counts downloads sent to a presigned URL, whose
	// bytes resultBytes does not count.
	resultRedirects *promtext.CounterVec
	webhooks        *promtext.CounterVec
	streams         *promtext.GaugeVec
	// streamReads counts the streams' reads of their jobs: each is a
	// query of the store.
	streamReads *promtext.CounterVec
}

func newMetrics(m *jobs.Manager, since time.Time) *metrics {
	x := &metrics{
		requests: promtext.NewCounterVec(promtext.Opts{
			Name: "audex_http_requests_total", Help: "HTTP requests by route and status code.",
		}, "route", "code"),
		latency: promtext.NewHistogramVec(promtext.Opts{
			Name: "audex_http_request_duration_seconds", Help: "HTTP request latency by route.",
		}, []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}, "route"),
		submitted: promtext.NewCounter(promtext.Opts{
			Name: "audex_jobs_submitted_total", Help: "Jobs accepted.",
		}),
		uploadBytes: promtext.NewCounter(promtext.Opts{
			Name: "audex_upload_bytes_total", Help: "Bytes of video received in uploads.",
		}),
		resultBytes: promtext.NewCounter(promtext.Opts{
			Name: "audex_result_bytes_served_total", Help: "Bytes of results sent to clients.",
		}),
		resultRedirects: promtext.NewCounter(promtext.Opts{
			Name: "audex_result_redirects_total", Help: "Result downloads redirected to a presigned URL of the blob store (their bytes are not in audex_result_bytes_served_total).",
		}),
		webhooks: promtext.NewCounterVec(promtext.Opts{
			Name: "audex_webhook_attempts_total", Help: "Webhook delivery attempts, by outcome (delivered, failed: retried, rejected: not retried).",
		}, "outcome"),
		streams: promtext.NewGauge(promtext.Opts{
			Name: "audex_status_streams", Help: "Live status streams (server-sent events) open.",
		}),
		streamReads: promtext.NewCounter(promtext.Opts{
			Name: "audex_status_stream_reads_total", Help: "Reads of their jobs by live status streams (each a query of the job store).",
		}),
	}
	x.reg.Register(x.requests, x.latency, x.submitted, x.uploadBytes, x.resultBytes, x.resultRedirects, x.webhooks, x.streams, x.streamReads,
		newJobsCollector(m, since), promtext.GoCollector(), promtext.ProcessCollector())
	return x
}

func (x *metrics) observe(route string, code int, d time.Duration) {
	if route == "" || route == "/" {
		route = "unrouted"
	}
	x.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	x.latency.WithLabelValues(route).Observe(d.Seconds())
}

// ServeHTTP answers a scrape in the text format, gzipped when the scraper
// accepts it (as Prometheus does).
func (x *metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", promtext.ContentType)
	if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
		x.reg.WriteTo(w)
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Add("Vary", "Accept-Encoding")
	gz := gzip.NewWriter(w)
	x.reg.WriteTo(gz)
	gz.Close()
}

// acceptsGzip reads an Accept-Encoding header: gzip listed, not with q=0.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if strings.TrimSpace(coding) != "gzip" {
			continue
		}
		q, ok := strings.CutPrefix(strings.TrimSpace(params), "q=")
		if !ok {
			return true
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(q), 64)
		return err == nil && v > 0
	}
	return false
}

// jobsCollector reads the manager at scrape time: jobs by state and queue
// depth as gauges, and every job that became final since the last scrape
// into the duration, real-time-factor and byte metrics.
type jobsCollector struct {
	m     *jobs.Manager
	since time.Time

	mu       sync.Mutex
	seen     map[string]bool
	duration *promtext.HistogramVec
	wait     *promtext.HistogramVec
	rtf      *promtext.HistogramVec
	inBytes  *promtext.CounterVec
	outBytes *promtext.CounterVec
}

var jobStates = []jobs.State{jobs.StateQueued, jobs.StateRunning, jobs.StateSucceeded, jobs.StateFailed, jobs.StateCanceled, jobs.StateExpired}

func newJobsCollector(m *jobs.Manager, since time.Time) *jobsCollector {
	return &jobsCollector{
		m:     m,
		since: since,
		seen:  map[string]bool{},
		duration: promtext.NewHistogramVec(promtext.Opts{
			Name: "audex_job_duration_seconds", Help: "Run time of finished jobs (start of the last attempt to the end), by outcome.",
		}, promtext.ExponentialBuckets(0.05, 2, 14), "outcome"),
		wait: promtext.NewHistogram(promtext.Opts{
			Name: "audex_job_wait_seconds", Help: "Time finished jobs spent queued before their last attempt started.",
		}, promtext.ExponentialBuckets(0.01, 3, 12)),
		rtf: promtext.NewHistogram(promtext.Opts{
			Name: "audex_extraction_real_time_factor", Help: "Seconds of audio produced per second of job run time, for succeeded jobs.",
		}, promtext.ExponentialBuckets(0.5, 2, 14)),
		inBytes: promtext.NewCounterVec(promtext.Opts{
			Name: "audex_job_input_bytes_total", Help: "Input bytes of finished jobs, by source.",
		}, "source"),
		outBytes: promtext.NewCounter(promtext.Opts{
			Name: "audex_job_output_bytes_total", Help: "Result bytes of succeeded jobs.",
		}),
	}
}

// Collect implements promtext.Collector.
func (c *jobsCollector) Collect(add func(promtext.Family)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	gauge := func(name, help string, series ...promtext.Series) {
		add(promtext.Family{Name: name, Help: help, Type: promtext.GaugeType, Series: series})
	}
	value := func(v float64, labels ...promtext.Label) promtext.Series {
		return promtext.Series{Labels: labels, Value: v}
	}
	const upHelp = "1 when the job store answered the scrape."
	list, err := c.m.List("")
	if err != nil {
		gauge("audex_store_up", upHelp, value(0))
	} else {
		gauge("audex_store_up", upHelp, value(1))
		counts := map[jobs.State]int{}
		live := make(map[string]bool, len(list))
		for _, j := range list {
			counts[j.State]++
			live[j.ID] = true
			c.record(j)
		}
		for id := range c.seen {
			if !live[id] {
				delete(c.seen, id)
			}
		}
		var byState []promtext.Series
		for _, st := range jobStates {
			byState = append(byState, value(float64(counts[st]), promtext.Label{Name: "state", Value: string(st)}))
		}
		gauge("audex_jobs", "Jobs known to the manager, by state.", byState...)
		gauge("audex_queue_depth", "Jobs waiting for a worker.", value(float64(counts[jobs.StateQueued])))
	}
	if st, err := c.m.Stats(); err == nil {
		gauge("audex_workers", "Worker slots, by whether they are running a job.",
			value(float64(st.Running), promtext.Label{Name: "busy", Value: "true"}),
			value(float64(max(st.Workers-st.Running, 0)), promtext.Label{Name: "busy", Value: "false"}))
		gauge("audex_queue_capacity", "How many jobs may wait before submissions get 429.", value(float64(st.QueueSize)))
		gauge("audex_queue_reserved", "Places in the queue held by uploads still arriving.", value(float64(st.Reserved)))
	}
	c.duration.Collect(add)
	c.wait.Collect(add)
	c.rtf.Collect(add)
	c.inBytes.Collect(add)
	c.outBytes.Collect(add)
}

// record observes a job the first time it is seen final (and finished after
// this process started).
func (c *jobsCollector) record(j jobs.Job) {
	if !j.State.Final() || c.seen[j.ID] || j.FinishedAt.Before(c.since) {
		return
	}
	c.seen[j.ID] = true
	outcome := string(j.State)
	if j.Result != nil {
		outcome = string(jobs.StateSucceeded)
	}
	if !j.StartedAt.IsZero() {
		c.duration.WithLabelValues(outcome).Observe(j.FinishedAt.Sub(j.StartedAt).Seconds())
		c.wait.Observe(j.StartedAt.Sub(j.CreatedAt).Seconds())
	}
	source := "upload"
	if j.Request.URL != "" {
		source = "url"
	}
	c.inBytes.WithLabelValues(source).Add(float64(j.InputBytes))
	if j.Result != nil {
		c.outBytes.Add(float64(j.Result.Size))
		if f := realTimeFactor(j); f > 0 {
			c.rtf.Observe(f)
		}
	}
}
