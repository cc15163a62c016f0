package isolate

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/audex/audex/extract"
)

// BenchmarkIsolation measures what running extractions in isolate processes
// costs against running them in this process: 2-second clips (H.264 video
// and stereo AAC) to MP3, one job at a time (Serial) and GOMAXPROCS at a time
// (Parallel, with as many isolates), reported as jobs/s. Run it without -race:
//
//	internal/ffmpeg/with-env go test -run '^$' -bench Isolation -benchtime 400x ./internal/isolate
func BenchmarkIsolation(b *testing.B) {
	src := media(b, "clip2s.mp4")
	ctx := context.Background()
	for _, mode := range []struct {
		name string
		jobs int
	}{{"Serial", 1}, {"Parallel", runtime.GOMAXPROCS(0)}} {
		bench := func(b *testing.B, run func(dst string) error) {
			dir := b.TempDir()
			b.ResetTimer()
			var wg sync.WaitGroup
			for g := range mode.jobs {
				// Each goroutine rewrites its own output file.
				dst := filepath.Join(dir, fmt.Sprintf("out-%d.mp3", g))
				wg.Go(func() {
					for i := g; i < b.N; i += mode.jobs {
						if err := run(dst); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		}
		b.Run(mode.name+"/InProcess", func(b *testing.B) {
			bench(b, func(dst string) error {
				_, err := extract.ExtractFile(ctx, dst, src, nil)
				return err
			})
		})
		b.Run(mode.name+"/Pool", func(b *testing.B) {
			p := newTestPool(b, Config{Size: mode.jobs, Logger: slog.New(slog.DiscardHandler)})
			bench(b, func(dst string) error {
				_, err := p.Extract(ctx, dst, src, extract.Options{})
				return err
			})
		})
	}
}
