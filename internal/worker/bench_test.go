package worker

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/audex/audex/extract"
)

// BenchmarkIsolation measures what running extractions in worker processes
// costs against running them in this process: 2-second clips (H.264 video
// and stereo AAC) to MP3, GOMAXPROCS jobs at a time either way, reported as
// jobs/s. Run it without -race:
//
//	internal/ffmpeg/with-env go test -run '^$' -bench Isolation -benchtime 400x ./internal/worker
func BenchmarkIsolation(b *testing.B) {
	src := media(b, "clip2s.mp4")
	ctx := context.Background()
	bench := func(b *testing.B, run func(dst string) error) {
		dir := b.TempDir()
		var seq atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			// Each goroutine rewrites its own output file.
			dst := filepath.Join(dir, fmt.Sprintf("out-%d.mp3", seq.Add(1)))
			for pb.Next() {
				if err := run(dst); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	}
	b.Run("InProcess", func(b *testing.B) {
		bench(b, func(dst string) error {
			_, err := extract.ExtractFile(ctx, dst, src, nil)
			return err
		})
	})
	b.Run("Pool", func(b *testing.B) {
		p := newTestPool(b, Config{Size: runtime.GOMAXPROCS(0)})
		bench(b, func(dst string) error {
			_, err := p.Extract(ctx, dst, src, extract.Options{})
			return err
		})
	})
}
