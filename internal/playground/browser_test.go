package playground_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/testmedia"
)

// browser returns a tab of a fresh headless Chromium, or skips the test
// when no browser can run here. Under CI (which runs make browser
// first) a missing or broken browser fails instead: it must not go unnoticed.
func browser(t *testing.T) context.Context {
	t.Helper()
	cannot := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) +
			" (install it with make browser, which make test runs)"
		if os.Getenv("CI") != "" {
			t.Fatal("playground browser test: " + msg)
		}
		t.Skip("playground browser test skipped: " + msg)
	}
	path := os.Getenv("AUDEX_CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		cannot("no chromium on PATH")
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 900),
	)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser now, so that a browser that cannot run is told
	// apart from a failing page. This first call must use ctx itself: the
	// browser lives as long as the context that started it.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		cannot("chromium %s does not start: %v", path, err)
	}
	return ctx
}

// artifacts is where screenshots go: $AUDEX_ARTIFACTS (kept by CI), else a
// test temporary directory.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("AUDEX_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// run does the steps within d, and on failure reports what the page shows.
func run(t *testing.T, ctx context.Context, d time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatalf("%s: %v\npage state: %s", what, err, pageState(ctx))
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	require.NoError(t, err, js)
	return v
}

// pageState summarizes the visible status and errors, for failure messages.
func pageState(ctx context.Context) string {
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(c, chromedp.Evaluate[string](`JSON.stringify({
		status: document.getElementById('job-status').textContent,
		probe: document.getElementById('probe-summary').textContent,
		errors: [...document.querySelectorAll('.error:not([hidden])')].map(e => e.id + ': ' + e.textContent),
	})`))
	if err != nil {
		return "(unavailable: " + err.Error() + ")"
	}
	return s
}

func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
}

// TestBrowser drives the page in headless Chromium against a real server:
// the whole job flow with a fractional start, then an input that is not a
// video.
func TestBrowser(t *testing.T) {
	ctx := browser(t)
	base, token := startServer(t)
	out := artifacts(t)

	// A copy with a plain name: it shows in the page and its curl lines.
	video := filepath.Join(t.TempDir(), "interview.mp4")
	fixture, err := os.ReadFile(testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 4}))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(video, fixture, 0o644))
	const start, duration, format = "1.25", "1.5", "flac"

	run(t, ctx, 15*time.Second, "open the page",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("submit")),
	)

	// Every control has an accessible name.
	unnamed := eval[[]string](t, ctx, `[...document.querySelectorAll('input, select, textarea, button')]
		.filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !(el.tagName === 'BUTTON' && el.textContent.trim()))
		.map(el => el.outerHTML)`)
	assert.Empty(t, unnamed, "controls without a label")

	run(t, ctx, 20*time.Second, "probe the video",
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.SetUploadFiles(chromedp.ID("video"), []string{video}),
		chromedp.WaitVisible(chromedp.ID("tracks")),
	)
	summary := eval[string](t, ctx, `document.getElementById('probe-summary').textContent`)
	assert.Contains(t, summary, "4.000 s long, 1 audio track", "the video's length")
	tracks := eval[[]string](t, ctx, `[...document.querySelectorAll('#track option')].map(o => o.textContent)`)
	require.Len(t, tracks, 2, "automatic plus the one track: %q", tracks)
	assert.Contains(t, tracks[1], "aac")
	assert.Contains(t, tracks[1], "48 kHz")

	run(t, ctx, 45*time.Second, "submit and wait for the result",
		chromedp.SetValue(chromedp.ID("start_time"), start),
		chromedp.SetValue(chromedp.ID("duration"), duration),
		chromedp.SetValue(chromedp.ID("output_format"), format),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("result")),
	)

	// The player plays the result: the browser reads its length.
	played, err := chromedp.Run(ctx, chromedp.Poll[float64](
		`(() => { const p = document.getElementById('player'); return !p.hidden && p.readyState >= 1 && p.duration; })()`,
		chromedp.WithPollingTimeout(15*time.Second)))
	require.NoError(t, err, "the audio player loads the result; page: %s", pageState(ctx))
	assert.InDelta(t, 1.5, played, 0.01, "the player's duration")

	meta := eval[map[string]string](t, ctx,
		`Object.fromEntries([...document.querySelectorAll('#meta dd')].map(d => [d.dataset.key, d.textContent]))`)
	assert.Equal(t, "1.250 s", meta["start"])
	assert.Equal(t, "1.500 s", meta["duration"])
	assert.Contains(t, meta["format"], "flac")
	assert.Equal(t, "48000 Hz", meta["sample_rate"])
	assert.Contains(t, meta["size"], "bytes")
	assert.Regexp(t, `^\(link expires in 1[45]:\d\d\)$`, eval[string](t, ctx, `document.getElementById('expiry').textContent`))
	assert.Equal(t, "Done.", eval[string](t, ctx, `document.getElementById('job-status').textContent`))
	assert.Equal(t, float64(100), eval[float64](t, ctx, `document.getElementById('job-progress').value`))
	assert.Equal(t, "stream", eval[string](t, ctx, `document.getElementById('job').dataset.follow`),
		"the page followed the job on its live status stream")

	screenshot(t, ctx, filepath.Join(out, "playground.png"))

	// The curl commands work as shown: run them in a shell.
	cmds := eval[map[string]string](t, ctx, `({
		submit: document.getElementById('curl-submit').value,
		status: document.getElementById('curl-status').value,
		download: document.getElementById('curl-download').value,
	})`)
	work := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(work, filepath.Base(video)), fixture, 0o644))
	sh := func(script string) string {
		t.Helper()
		cmd := exec.Command("bash", "-c", script)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "AUDEX_TOKEN="+token)
		b, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s\n%s", script, b)
		return string(b)
	}
	var created struct {
		JobID string `json:"job_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(sh(cmds["submit"])), &created), cmds["submit"])
	assert.NotEmpty(t, created.JobID, "the submit command creates a job")
	var status struct{ Status string }
	require.NoError(t, json.Unmarshal([]byte(sh(cmds["status"])), &status), cmds["status"])
	assert.Equal(t, "successful", status.Status, "the status command reports the browser's job")
	sh(cmds["download"])
	files, err := filepath.Glob(filepath.Join(work, "*."+format))
	require.NoError(t, err)
	require.Len(t, files, 1, "the download command saves the result")
	got := testmedia.Decode(t, files[0])
	assert.Equal(t, "flac", got.Codec)
	assert.Equal(t, 48000, got.Rate)
	assert.InDelta(t, 1.5, got.Seconds(), 1.0/48000, "decoded duration")

	// On a phone-sized screen nothing overflows sideways.
	run(t, ctx, 10*time.Second, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	overflow := eval[[]string](t, ctx, `[...document.querySelectorAll('body *')]
		.filter(el => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1 && !el.closest('textarea'))
		.map(el => el.tagName + '#' + el.id + '.' + el.className)`)
	assert.Empty(t, overflow, "elements wider than a phone screen")
	screenshot(t, ctx, filepath.Join(out, "playground-phone.png"))
	run(t, ctx, 10*time.Second, "desktop viewport", chromedp.EmulateViewport(1000, 900))

	// Without a live stream (here the browser refuses it), the page polls.
	eval[bool](t, ctx, `(() => {
		const f = window.fetch;
		window.fetch = (u, o) => o && o.headers && o.headers.Accept === 'text/event-stream'
			? Promise.reject(new TypeError('no streams here')) : f(u, o);
		return true;
	})()`)
	run(t, ctx, 45*time.Second, "submit again, without a stream",
		chromedp.Click(chromedp.ID("submit")),
		chromedp.Poll[chromedp.Void](`document.getElementById('job').dataset.follow === 'poll' &&
			document.getElementById('job-status').textContent === 'Done.' && !document.getElementById('result').hidden`),
	)

	// A text file: the message stands next to the video field, in words.
	text := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(text, []byte(strings.Repeat("not a video\n", 200)), 0o644))
	run(t, ctx, 15*time.Second, "reload",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("submit")),
	)
	assert.Equal(t, token, eval[string](t, ctx, `document.getElementById('token').value`),
		"the token survives a reload in session storage")
	run(t, ctx, 30*time.Second, "submit a text file",
		chromedp.SetUploadFiles(chromedp.ID("video"), []string{text}),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.Poll[chromedp.Void](`/^(Failed|Not submitted)/.test(document.getElementById('job-status').textContent)`),
		chromedp.WaitVisible(chromedp.ID("video-error")),
	)
	msg := eval[string](t, ctx, `document.getElementById('video-error').textContent`)
	assert.Contains(t, msg, "not a video or audio file", "page: %s", pageState(ctx))
	assert.Equal(t, "true", eval[string](t, ctx, `document.getElementById('video').getAttribute('aria-invalid')`))
	screenshot(t, ctx, filepath.Join(out, "playground-error.png"))

	// A start past the end of the audio: the page knows the length from
	// the probe and says so by the start field, without submitting.
	run(t, ctx, 30*time.Second, "submit a start past the end",
		chromedp.SetUploadFiles(chromedp.ID("video"), []string{video}),
		chromedp.WaitVisible(chromedp.ID("tracks")),
		chromedp.SetValue(chromedp.ID("start_time"), "00:10.5"),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("start_time-error")),
	)
	msg = eval[string](t, ctx, `document.getElementById('start_time-error').textContent`)
	assert.Equal(t, "The start is past the end of the audio. The video is 4.000 s long.", msg)
	assert.True(t, eval[bool](t, ctx, `document.getElementById('job').hidden`), "nothing submitted")

	// A wrong token: the message stands by the token field; no progress
	// bar and no status command for a job that does not exist.
	run(t, ctx, 15*time.Second, "submit with a wrong token",
		chromedp.SetValue(chromedp.ID("start_time"), "1"),
		chromedp.SetValue(chromedp.ID("token"), "not-the-token"),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.Poll[chromedp.Void](`document.getElementById('job-status').textContent === 'Not submitted.'`),
		chromedp.WaitVisible(chromedp.ID("token-error")),
	)
	assert.Contains(t, eval[string](t, ctx, `document.getElementById('token-error').textContent`), "token is missing or wrong")
	assert.True(t, eval[bool](t, ctx, `document.getElementById('job-progress').hidden`), "no progress bar when nothing was submitted")
	assert.True(t, eval[bool](t, ctx, `document.getElementById('curl-status').closest('.cmd').hidden`), "no status command without a job")
}
