//go:build cgofuzz

package extract_test

import (
	"os"
	"testing"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
)

// FuzzExtract (reliability.md F-10) feeds mutated media to the whole
// pipeline, seeded with a small fixture of every container audex reads.
// FuzzIsolatedExtract in internal/isolate drives inputs through an isolate
// process, as the service runs them; this harness skips the process round
// trip for speed and seeds every container.
// Each input must be extracted within the deadline, with output within the
// limit, or fail with a typed error. It runs in this process: a crash in
// FFmpeg's C code kills the fuzzing process, and go test reports "fuzzing
// process hung or terminated unexpectedly" and writes the input to
// testdata/fuzz (checked with a planted NULL write). It needs the cgofuzz
// build tag and runs nightly or on demand, not per commit:
//
//	make fuzz-media FUZZTIME=10m
func FuzzExtract(f *testing.F) {
	sine := []string{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=0.5"}
	seeds := []string{
		testmedia.Video(f, testmedia.Spec{Container: "mp4", Seconds: 0.5, Signal: "sine"}),
		testmedia.Video(f, testmedia.Spec{Container: "mp4", Seconds: 0.5, Signal: "sine", NoVideo: true, Extra: []string{"-movflags", "+faststart"}}),
		testmedia.Video(f, testmedia.Spec{Container: "mkv", Seconds: 0.5, Signal: "sine", NoVideo: true, AudioCodec: "flac"}),
		testmedia.Video(f, testmedia.Spec{Container: "webm", Seconds: 0.5, Signal: "sine", NoVideo: true}),
		testmedia.Video(f, testmedia.Spec{Container: "flv", Seconds: 0.5, Signal: "sine", NoVideo: true}),
		testmedia.Video(f, testmedia.Spec{Container: "avi", Seconds: 0.5, Signal: "sine", NoVideo: true}),
		testmedia.Video(f, testmedia.Spec{Container: "ts", Seconds: 0.5, Signal: "sine", NoVideo: true}),
		testmedia.Make(f, "f10.mp3", append(sine, "-c:a", "libmp3lame")...),
		testmedia.Make(f, "f10.ogg", append(sine, "-c:a", "libvorbis")...),
		testmedia.Make(f, "f10.wav", sine...),
		testmedia.Make(f, "f10.flac", sine...),
		testmedia.Make(f, "f10.ac3", append(sine, "-c:a", "ac3")...),
		testmedia.Make(f, "f10.aac", append(sine, "-c:a", "aac", "-f", "adts")...),
		testmedia.Make(f, "f10.amr", "-f", "lavfi", "-i", "sine=sample_rate=8000:duration=0.5", "-c:a", "libopencore_amrnb", "-b:a", "12.2k"),
		testmedia.Make(f, "f10.wma", append(sine, "-c:a", "wmav2", "-f", "asf")...),
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	f.Fuzz(func(t *testing.T, media []byte, mp3 bool) {
		format := extract.WAV
		if mp3 {
			format = extract.MP3
		}
		checkFuzzExtraction(t, media, format)
	})
}
