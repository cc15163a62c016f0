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
// Each reports the submit→successful latency's p50 and p99 (ms); the log
// gives the distributed p50 over single-s3's (the store's own share, the
// bucket being the same) and over single's.
//
//	internal/ffmpeg/with-env go test -run '^$' -bench Distributed -benchtime 200x ./internal/cli
func BenchmarkDistributed(b *testing.B) {
	u := newUpload(b, testmedia.Video(b, testmedia.Spec{Container: "mp4", Seconds: 2}))
	p50 := map[string]time.Duration{}
	run := func(b *testing.B, setup string, s *served) {
		c := &http.Client{Timeout: 30 * time.Second}
		defer c.CloseIdleConnections()
		var took []time.Duration
		for b.Loop() {
			start := time.Now()
			a := u.submit(c, s)
			require.Equal(b, http.StatusOK, a.code, a.err)
			for {
				st := s.status(b, c, a.id)
				if st["status"] == "successful" {
					break
				}
				require.Equal(b, "pending", st["status"], "%v", st)
				time.Sleep(5 * time.Millisecond)
			}
			took = append(took, time.Since(start))
		}
		slices.Sort(took)
		q := func(f float64) time.Duration { return took[int(f*float64(len(took)-1))] }
		p50[setup] = q(0.5)
		b.ReportMetric(float64(q(0.5).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99-ms")
	}
	b.Run("single", func(b *testing.B) {
		run(b, "single", serve(b, b.TempDir(), "--workers", "2"))
	})
	b.Run("single-s3", func(b *testing.B) {
		srv := testsvc.StartS3(b)
		env := []string{"AUDEX_BLOBS=" + srv.URL(srv.NewBucket(b), "bench")}
		for k, v := range srv.Env() {
			env = append(env, k+"="+v)
		}
		run(b, "single-s3", serveEnv(b, b.TempDir(), env, "--workers", "2"))
	})
	b.Run("distributed", func(b *testing.B) {
		cl := newCluster(b)
		s := cl.replica()
		cl.node()
		cl.node()
		run(b, "distributed", s)
	})
	single, s3, dist := p50["single"], p50["single-s3"], p50["distributed"]
	if single > 0 && s3 > 0 && dist > 0 {
		b.Logf("p50 per job: single %v, single-s3 %v, distributed %v: the shared store adds %+.1f%% over single-s3, %+.1f%% over single",
			single, s3, dist, 100*(float64(dist)/float64(s3)-1), 100*(float64(dist)/float64(single)-1))
	}
}
