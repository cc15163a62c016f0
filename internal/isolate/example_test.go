package isolate_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/isolate"
)

// A service runs its extractions in two isolate processes, each capped at
// 512 MiB and 10 minutes per job.
func ExamplePool() {
	pool, err := isolate.NewPool(&isolate.Config{Size: 2, MemoryLimit: 512 << 20, JobTimeout: 10 * time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	res, err := pool.Extract(context.Background(), "talk.mp3", "talk.mp4", extract.Options{})
	switch {
	case errors.Is(err, extract.ErrNoAudio):
		log.Print("the video has no sound")
	case errors.Is(err, isolate.ErrCrashed):
		log.Print("the input crashed an isolate; retry once, then give up")
	case err != nil:
		log.Print(err)
	default:
		log.Printf("%v of %s", res.Duration, res.Format)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pool.Shutdown(ctx); err != nil {
		log.Print(err)
	}
}
