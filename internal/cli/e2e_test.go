package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/testmedia"
)

// The end-to-end tests run the real binary, built once per test run.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func audexBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "audex-e2e-*"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "audex")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/audex/audex/cmd/audex").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	require.NoError(t, buildErr, "go build")
	return binPath
}

// audex runs the binary to completion.
func audex(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(audexBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func TestBinaryExtractProbe(t *testing.T) {
	t.Parallel()
	src := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 4})
	dir := t.TempDir()
	out := filepath.Join(dir, "clip.flac")

	r := audex(t, nil, "extract", src, "-o", out, "--start", "00:00:01.500", "--duration", "2")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stderr, "no progress bar or log when stderr is not a terminal")
	a := testmedia.Decode(t, out)
	assertSeconds(t, 2, a)
	assert.Equal(t, "flac", a.Codec)

	r = audex(t, nil, "probe", "--json", out)
	require.Equal(t, 0, r.code, r.stderr)
	var info struct {
		Container   string `json:"container"`
		AudioTracks []struct {
			Codec string `json:"codec"`
		} `json:"audio_tracks"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &info))
	assert.Equal(t, "flac", info.Container)
	require.Len(t, info.AudioTracks, 1)
	assert.Equal(t, "flac", info.AudioTracks[0].Codec)

	r = audex(t, nil, "extract", filepath.Join(dir, "missing.mp4"))
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "audex: "+filepath.Join(dir, "missing.mp4")+": no such file or directory\n", r.stderr)

	r = audex(t, nil, "extract", src, "--start", "soon")
	assert.Equal(t, 2, r.code)
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), r.stderr)
}

// SIGINT while the input is still arriving: exit 130 promptly, no file.
func TestBinaryInterrupt(t *testing.T) {
	t.Parallel()
	src := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 4})
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	dir := t.TempDir()
	cmd := exec.Command(audexBinary(t), "extract", "-", "-o", filepath.Join(dir, "x.mp3"))
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	require.NoError(t, cmd.Start())
	go stdin.Write(b[:len(b)/2])
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("audex did not stop on SIGINT")
	}
	stdin.Close()
	assert.Equal(t, ExitInterrupted, cmd.ProcessState.ExitCode())
	assert.Equal(t, "audex: interrupted\n", errb.String())
	assert.Empty(t, dirNames(t, dir), "no partial output")
}

// submit -> status -> fetch against a real `audex serve` on loopback.
func TestBinaryServeSubmitStatusFetch(t *testing.T) {
	t.Parallel()
	src := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 4})
	dir := t.TempDir()

	srv := serve(t, filepath.Join(dir, "data"), "--workers", "1", "--log-level", "info")
	server := srv.url
	env := []string{"AUDEX_SERVER=" + server, "AUDEX_TOKEN=s3cret"}

	r := audex(t, env, "submit", src, "--start", "1", "--duration", "1.5", "--format", "wav")
	require.Equal(t, 0, r.code, r.stderr)
	id := strings.TrimSpace(r.stdout)
	assert.Regexp(t, `^[A-Za-z0-9_-]{22}$`, id)

	r = audex(t, env, "status", id, "--wait")
	require.Equal(t, 0, r.code, r.stderr)
	assert.True(t, strings.HasPrefix(r.stdout, id+": successful\nurl: "+server+"/results/"+id+"/"), r.stdout)

	out := filepath.Join(dir, "clip.wav")
	r = audex(t, env, "fetch", id, "-o", out)
	require.Equal(t, 0, r.code, r.stderr)
	assertSeconds(t, 1.5, testmedia.Decode(t, out))

	// One step, flags from the command line instead of the environment.
	out = filepath.Join(dir, "whole.mp3")
	r = audex(t, nil, "submit", src, "--server", server, "--token", "s3cret", "-o", out, "--start", "3")
	require.Equal(t, 0, r.code, r.stderr)
	assertSeconds(t, testmedia.Decode(t, src).Seconds()-3, testmedia.Decode(t, out))

	r = audex(t, env, "submit", src, "--start", "100", "--wait", "--json")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "(start_beyond_end)")
	var st struct{ Status, Code string }
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
	assert.Equal(t, "failed", st.Status)
	assert.Equal(t, "start_beyond_end", st.Code)

	r = audex(t, []string{"AUDEX_SERVER=" + server, "AUDEX_TOKEN=wrong"}, "status", id)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "HTTP 401")

	// SIGTERM drains and exits 0.
	srv.stop(t)
}
