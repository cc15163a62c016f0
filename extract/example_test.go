package extract_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/audex/audex/extract"
)

// Cut 1.25 s starting at 0.5 s out of a video into WAV.
func ExampleExtractFile() {
	out := filepath.Join(os.TempDir(), "audex-example.wav")
	defer os.Remove(out)
	res, err := extract.ExtractFile(context.Background(), out, "testdata/sample.mp4", &extract.Options{
		Start:    500 * time.Millisecond,
		Duration: 1250 * time.Millisecond,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Format, res.SampleRate, res.Channels, res.Samples, res.Duration)
	// Output: wav 44100 1 55125 1.25s
}

// Extract streams from any reader to any writer; formats whose header is
// completed at the end are spooled so the bytes written are a whole file.
func ExampleExtract() {
	in, err := os.Open("testdata/sample.mp4")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer in.Close()
	var out countingWriter
	res, err := extract.Extract(context.Background(), &out, in, &extract.Options{
		Format:   extract.AMR, // AMR-NB: the 44.1 kHz source becomes 8 kHz
		Duration: time.Second,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Codec, res.SampleRate, res.Channels, out.n == res.Bytes)
	// Output: amr_nb 8000 1 true
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(b []byte) (int, error) { w.n += int64(len(b)); return len(b), nil }

func ExampleProbeFile() {
	info, err := extract.ProbeFile(context.Background(), "testdata/sample.mp4", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range info.AudioTracks {
		fmt.Printf("track %d: %s %s %d Hz %s, %s\n", t.Track, t.Codec, t.Profile, t.SampleRate, t.ChannelLayout, t.Language)
	}
	// Output: track 1: aac LC 44100 Hz mono, eng
}

// Errors wrap sentinels: test them with errors.Is.
func ExampleErrStartBeyondEnd() {
	_, err := extract.ExtractFile(context.Background(), filepath.Join(os.TempDir(), "x.mp3"), "testdata/sample.mp4", &extract.Options{Start: time.Hour})
	fmt.Println(errors.Is(err, extract.ErrStartBeyondEnd))
	// Output: true
}
