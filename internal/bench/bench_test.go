package bench

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNeedsAnInput(t *testing.T) {
	t.Parallel()
	_, err := Run(context.Background(), Config{})
	assert.ErrorIs(t, err, ErrNoFixture)
}

func sampleReport(baseline bool) *Report {
	r := &Report{
		Machine: Machine{OS: "linux", Arch: "amd64", CPUs: 2, GoVersion: "go1.26"},
		Input:   Media{Path: "/c/in.mp4", Description: "mov, 3:00, aac 48000 Hz 2 ch", Duration: 3 * time.Minute, Generated: true},
		Rows: []Row{
			{Group: GroupClip, Name: "2 s clip -> wav", Unit: JobsPerSecond, Format: "wav", Workers: 1, Audex: Measure{Value: 123.456}},
			{Group: GroupProcess, Name: "2 s clip -> wav, a process per job", Unit: MsPerJob, Format: "wav", Workers: 1, Audex: Measure{Value: 12}},
			{Group: GroupFull, Name: "whole file -> mp3", Unit: Realtime, Format: "mp3", Workers: 1, Audex: Measure{Value: 45.67, Runs: 2, CPUSeconds: 9}},
			{Group: GroupFull, Name: "whole file -> mp3, one encoder", Unit: Realtime, Workers: 1, Parallelism: 1, Audex: Measure{Value: 30, Runs: 2, CPUSeconds: 8}},
			{Group: GroupCopy, Name: "stream copy -> m4a", Unit: Realtime, Format: "m4a", Workers: 1, Audex: Measure{Value: 2000}},
			{Group: GroupSeek, Name: "2 s clip at 59:00 -> mp3", Unit: MsPerJob, Workers: 1, Audex: Measure{Value: 12.5}},
			{Group: GroupConcurrency, Name: "2 s clip -> mp3, 1 worker", Unit: JobsPerSecond, Workers: 1, Audex: Measure{Value: 50}},
			{Group: GroupConcurrency, Name: "2 s clip -> mp3, 2 workers", Unit: JobsPerSecond, Workers: 2, Audex: Measure{Value: 95}},
		},
	}
	r.LongInput = r.Input
	if baseline {
		r.FFmpeg, r.FFmpegVersion = "/usr/bin/ffmpeg", "7.1.5"
		for i := range r.Rows {
			r.Rows[i].FFmpeg = &Measure{Value: r.Rows[i].Audex.Value / 2, Runs: 1, CPUSeconds: 5}
			r.Rows[i].Speedup = 2
		}
	}
	return r
}

func TestWriteTable(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	require.NoError(t, sampleReport(true).WriteTable(&b))
	lines := strings.Split(b.String(), "\n")
	assert.Equal(t, "audex bench: linux/amd64, 2 CPUs, go1.26", lines[0])
	assert.Equal(t, "baseline: ffmpeg 7.1.5 (/usr/bin/ffmpeg), one process per job", lines[1])
	assert.Equal(t, "input: mov, 3:00, aac 48000 Hz 2 ch (generated) /c/in.mp4", lines[2])
	assert.Equal(t, []string{"BENCHMARK", "UNIT", "AUDEX", "FFMPEG", "SPEED-UP", "CPU-S/JOB"}, strings.Fields(lines[4]))
	assert.Equal(t, []string{"2", "s", "clip", "->", "wav", "jobs/s", "123", "61.7", "2.00x", "-"}, strings.Fields(lines[5]))
	assert.Equal(t, "", strings.TrimSpace(lines[6]), "groups are apart")
	assert.Equal(t, []string{"2", "s", "clip", "->", "wav,", "a", "process", "per", "job", "ms/job", "12.0", "6", "2.00x", "-"}, strings.Fields(lines[7]))
	assert.Equal(t, []string{"whole", "file", "->", "mp3", "x", "realtime", "45.7", "22.8", "2.00x", "4.5", "/", "5"}, strings.Fields(lines[9]))
	assert.Equal(t, []string{"whole", "file", "->", "mp3,", "one", "encoder", "x", "realtime", "30.0", "15.0", "2.00x", "4", "/", "5"}, strings.Fields(lines[10]))

	b.Reset()
	require.NoError(t, sampleReport(false).WriteTable(&b))
	assert.Contains(t, b.String(), "baseline: none")
	assert.Regexp(t, `\n2 s clip at 59:00 -> mp3 +ms/job +12\.5 +- +- +-\n`, b.String())
}

func TestPlot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, baseline := range []bool{true, false} {
		p := filepath.Join(dir, "a.svg")
		require.NoError(t, sampleReport(baseline).Plot(p))
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		svg := string(b)
		require.NoError(t, xml.Unmarshal(b, new(struct{ XMLName xml.Name })), "well-formed XML")
		assert.Contains(t, svg, "<svg")
		assert.Contains(t, svg, ">workers</text>")
		assert.Contains(t, svg, ">Throughput vs concurrent workers (2 s clip -&gt; mp3)</text>")
		assert.Equal(t, 2*(1+bool2int(baseline)), strings.Count(svg, "<circle cx=\"")-1-bool2int(baseline), "a point per row and side, and a legend mark per side")
		if baseline {
			assert.Contains(t, svg, ">audex speed-up over ffmpeg</text>")
			for _, bar := range []string{"clip/proc", "mp3", "m4a copy"} {
				assert.Contains(t, svg, ">"+bar+"</text>")
			}
			assert.Equal(t, 3, strings.Count(svg, "<rect x="), "a bar per whole-file, copy and process row")
		} else {
			assert.NotContains(t, svg, "speed-up")
		}
	}
	for _, name := range []string{"b.png", "c.pdf"} {
		err := sampleReport(true).Plot(filepath.Join(dir, name))
		assert.ErrorIs(t, err, ErrPlotFormat)
	}
}

func bool2int(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestNiceTicks(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []float64{0, 20, 40, 60, 80, 100}, niceTicks(65.2*1.25))
	assert.Equal(t, []float64{0, 0.5, 1, 1.5, 2, 2.5}, niceTicks(2.2))
	assert.Equal(t, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}, niceTicks(0))
}

func TestSeekPoint(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 59*time.Minute, seekPoint(time.Hour))
	assert.Equal(t, 7*time.Second, seekPoint(10*time.Second))
	assert.Equal(t, time.Duration(0), seekPoint(time.Second))
}
