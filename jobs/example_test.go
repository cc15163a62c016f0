package jobs_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/jobs"
)

// An embedding program submits a video, waits for the job and reads the
// result.
func Example() {
	dir, err := os.MkdirTemp("", "audex-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	m, err := jobs.New(jobs.Config{Dir: filepath.Join(dir, "data")})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Shutdown(ctx)

	// The video stays where it is: the manager links (or copies) it into
	// its data directory.
	job, err := m.SubmitFile(ctx, sampleVideo(dir), jobs.Request{
		Options: extract.Options{Format: extract.WAV, Start: time.Second, Duration: 1500 * time.Millisecond},
	})
	if err != nil {
		log.Fatal(err)
	}
	job, err = m.Wait(ctx, job.ID)
	if err != nil {
		log.Fatal(err)
	}
	if job.State != jobs.StateSucceeded {
		log.Fatalf("job %s: %v", job.State, job.Error)
	}
	f, job, err := m.OpenResult(context.Background(), job.ID)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	n, err := io.Copy(io.Discard, f)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(job.State, job.Result.Format, job.Result.Duration, n == job.Result.Size)
	fmt.Println("expires 15 minutes after it finished:", job.ExpiresAt.Sub(job.FinishedAt))
	// Output:
	// succeeded wav 1.5s true
	// expires 15 minutes after it finished: 15m0s
}

// printNotifier delivers notifications by printing them; a real one would
// POST them somewhere (the HTTP service's webhooks).
type printNotifier struct{ delivered chan struct{} }

func (p printNotifier) Notify(ctx context.Context, n jobs.Notification) error {
	fmt.Println("notify", n.Target, "attempt", n.Attempt, "job", n.Job.State)
	close(p.delivered)
	return nil
}

// A job with a notification target gets one notification when it ends,
// stored with it and delivered at least once by the notifier.
func ExampleManager_StartNotifier() {
	dir, err := os.MkdirTemp("", "audex-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	cfg := jobs.Config{Dir: filepath.Join(dir, "data")}
	m, err := jobs.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	p := printNotifier{delivered: make(chan struct{})}
	if err := m.StartNotifier(p, nil); err != nil {
		log.Fatal(err)
	}
	job, err := m.SubmitFile(ctx, sampleVideo(dir), jobs.Request{
		Options: extract.Options{Format: extract.WAV, Duration: time.Second},
		Notify:  "https://hooks.example.com/audex",
	})
	if err != nil {
		log.Fatal(err)
	}
	<-p.delivered
	// Shutdown waits for the attempt's outcome to be recorded; the next
	// manager on the directory reads it.
	if err := m.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	m, err = jobs.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	job, err = m.Get(job.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(job.Notification.State, job.Notification.Attempts, job.Notification.LastResult)
	// Output:
	// notify https://hooks.example.com/audex attempt 1 job succeeded
	// delivered 1 delivered
}

// sampleVideo makes a 3-second video with a sine tone, with the ffmpeg
// program of audex's FFmpeg build.
func sampleVideo(dir string) string {
	ffmpeg := os.Getenv("AUDEX_FFMPEG")
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	path := filepath.Join(dir, "sample.mp4")
	out, err := exec.Command(ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:duration=3",
		"-f", "lavfi", "-i", "sine=d=3", "-c:v", "libopenh264", "-c:a", "aac", path).CombinedOutput()
	if err != nil {
		log.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return path
}
