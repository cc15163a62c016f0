package cli

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/testmedia"
	"github.com/audex/audex/internal/testsvc"
)

// BenchmarkDistributed measures what the shared store costs a job: a 2 s
// clip submitted, polled every 5 ms until successful, one job at a time,
// through the built binary on loopback, in three set-ups on this machine:
//
//   - single: one `serve --workers 2`, the embedded store, results on disk;
//   - single-s3: the same with its blobs in S3 (versitygw);
//   - distributed: one `serve --workers 0` replica and two `work` nodes of
//     one worker each, on PostgreSQL and S3.
//
// The three run side by side and take turns, one job each, so that the
// machine's drift (it is shared) falls on all of them alike. Each reports
// the submit→successful latency's p50 and p99 (ms); the log gives the
// distributed p50 over single-s3's (the store's own share, the bucket
// being the same) and over single's.
//
//	internal/ffmpeg/with-env go test -run '^$' -bench Distributed -benchtime 200x ./internal/cli
func BenchmarkDistributed(b *testing.B) {
	u := newUpload(b, testmedia.Video(b, testmedia.Spec{Container: "mp4", Seconds: 2}))
	srv := testsvc.StartS3(b)
	env := []string{"AUDEX_BLOBS=" + srv.URL(srv.NewBucket(b), "bench")}
	for k, v := range srv.Env() {
		env = append(env, k+"="+v)
	}
	cl := newCluster(b)
	setups := []struct {
		name string
		s    *served
		took []time.Duration
	}{
		{name: "single", s: serve(b, b.TempDir(), "--workers", "2")},
		{name: "single-s3", s: serveEnv(b, b.TempDir(), env, "--workers", "2")},
		{name: "distributed", s: cl.replica()},
	}
	cl.node()
	cl.node()
	c := &http.Client{Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	job := func(s *served) time.Duration {
		start := time.Now()
		a := u.submit(c, s)
		require.Equal(b, http.StatusOK, a.code, a.err)
		for {
			st := s.status(b, c, a.id)
			if st["status"] == "successful" {
				return time.Since(start)
			}
			require.Equal(b, "pending", st["status"], "%v", st)
			time.Sleep(5 * time.Millisecond)
		}
	}
	for b.Loop() {
		for i := range setups {
			setups[i].took = append(setups[i].took, job(setups[i].s))
		}
	}
	p50 := map[string]time.Duration{}
	for _, st := range setups {
		slices.Sort(st.took)
		q := func(f float64) time.Duration { return st.took[int(f*float64(len(st.took)-1))] }
		p50[st.name] = q(0.5)
		b.ReportMetric(float64(q(0.5).Microseconds())/1000, st.name+"-p50-ms")
		b.ReportMetric(float64(q(0.99).Microseconds())/1000, st.name+"-p99-ms")
	}
	single, s3, dist := p50["single"], p50["single-s3"], p50["distributed"]
	b.ReportMetric(100*(float64(dist)/float64(s3)-1), "store-overhead-%")
	b.Logf("p50 per job: single %v, single-s3 %v, distributed %v: the shared store adds %+.1f%% over single-s3, %+.1f%% over single",
		single, s3, dist, 100*(float64(dist)/float64(s3)-1), 100*(float64(dist)/float64(single)-1))
}
