package httpapi

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/audex/audex/jobs"
)

// metrics are the service's Prometheus metrics, in a registry of its own
// (so that several servers can live in one process, as in tests).
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	submitted   prometheus.Counter
	uploadBytes prometheus.Counter
	resultBytes prometheus.Counter
	webhooks    *prometheus.CounterVec
	streams     prometheus.Gauge
}

func newMetrics(m *jobs.Manager, since time.Time) *metrics {
	x := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "audex_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "audex_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route"}),
		submitted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "audex_jobs_submitted_total", Help: "Jobs accepted.",
		}),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "audex_upload_bytes_total", Help: "Bytes of video received in uploads.",
		}),
		resultBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "audex_result_bytes_served_total", Help: "Bytes of results sent to clients.",
		}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "audex_webhook_attempts_total", Help: "Webhook delivery attempts, by outcome (delivered, failed: retried, rejected: not retried).",
		}, []string{"outcome"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "audex_status_streams", Help: "Live status streams (server-sent events) open.",
		}),
	}
	x.reg.MustRegister(x.requests, x.latency, x.submitted, x.uploadBytes, x.resultBytes, x.webhooks, x.streams,
		newJobsCollector(m, since),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return x
}

func (x *metrics) observe(route string, code int, d time.Duration) {
	if route == "" || route == "/" {
		route = "unrouted"
	}
	x.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	x.latency.WithLabelValues(route).Observe(d.Seconds())
}

// jobsCollector reads the manager at scrape time: jobs by state and queue
// depth as gauges, and every job that became final since the last scrape
// into the duration, real-time-factor and byte metrics.
type jobsCollector struct {
	m     *jobs.Manager
	since time.Time

	stateDesc, queueDesc, upDesc, workersDesc, capacityDesc, reservedDesc *prometheus.Desc

	mu       sync.Mutex
	seen     map[string]bool
	duration *prometheus.HistogramVec
	wait     prometheus.Histogram
	rtf      prometheus.Histogram
	inBytes  *prometheus.CounterVec
	outBytes prometheus.Counter
}

var jobStates = []jobs.State{jobs.StateQueued, jobs.StateRunning, jobs.StateSucceeded, jobs.StateFailed, jobs.StateCanceled, jobs.StateExpired}

func newJobsCollector(m *jobs.Manager, since time.Time) *jobsCollector {
	return &jobsCollector{
		m:            m,
		since:        since,
		stateDesc:    prometheus.NewDesc("audex_jobs", "Jobs known to the manager, by state.", []string{"state"}, nil),
		queueDesc:    prometheus.NewDesc("audex_queue_depth", "Jobs waiting for a worker.", nil, nil),
		upDesc:       prometheus.NewDesc("audex_store_up", "1 when the job store answered the scrape.", nil, nil),
		workersDesc:  prometheus.NewDesc("audex_workers", "Worker slots, by whether they are running a job.", []string{"busy"}, nil),
		capacityDesc: prometheus.NewDesc("audex_queue_capacity", "How many jobs may wait before submissions get 429.", nil, nil),
		reservedDesc: prometheus.NewDesc("audex_queue_reserved", "Places in the queue held by uploads still arriving.", nil, nil),
		seen:         map[string]bool{},
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "audex_job_duration_seconds", Help: "Run time of finished jobs (start of the last attempt to the end), by outcome.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}, []string{"outcome"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "audex_job_wait_seconds", Help: "Time finished jobs spent queued before their last attempt started.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 12),
		}),
		rtf: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "audex_extraction_real_time_factor", Help: "Seconds of audio produced per second of job run time, for succeeded jobs.",
			Buckets: prometheus.ExponentialBuckets(0.5, 2, 14),
		}),
		inBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "audex_job_input_bytes_total", Help: "Input bytes of finished jobs, by source.",
		}, []string{"source"}),
		outBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "audex_job_output_bytes_total", Help: "Result bytes of succeeded jobs.",
		}),
	}
}

func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.stateDesc
	ch <- c.queueDesc
	ch <- c.upDesc
	ch <- c.workersDesc
	ch <- c.capacityDesc
	ch <- c.reservedDesc
	c.duration.Describe(ch)
	c.wait.Describe(ch)
	c.rtf.Describe(ch)
	c.inBytes.Describe(ch)
	c.outBytes.Describe(ch)
}

func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	list, err := c.m.List("")
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.upDesc, prometheus.GaugeValue, 0)
	} else {
		ch <- prometheus.MustNewConstMetric(c.upDesc, prometheus.GaugeValue, 1)
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
		for _, st := range jobStates {
			ch <- prometheus.MustNewConstMetric(c.stateDesc, prometheus.GaugeValue, float64(counts[st]), string(st))
		}
		ch <- prometheus.MustNewConstMetric(c.queueDesc, prometheus.GaugeValue, float64(counts[jobs.StateQueued]))
	}
	if st, err := c.m.Stats(); err == nil {
		ch <- prometheus.MustNewConstMetric(c.workersDesc, prometheus.GaugeValue, float64(st.Running), "true")
		ch <- prometheus.MustNewConstMetric(c.workersDesc, prometheus.GaugeValue, float64(max(st.Workers-st.Running, 0)), "false")
		ch <- prometheus.MustNewConstMetric(c.capacityDesc, prometheus.GaugeValue, float64(st.QueueSize))
		ch <- prometheus.MustNewConstMetric(c.reservedDesc, prometheus.GaugeValue, float64(st.Reserved))
	}
	c.duration.Collect(ch)
	c.wait.Collect(ch)
	c.rtf.Collect(ch)
	c.inBytes.Collect(ch)
	c.outBytes.Collect(ch)
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
