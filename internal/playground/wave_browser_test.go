package playground_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/testmedia"
)

// paintedJS measures a canvas: for a pixel column at fraction f of its
// width, the fraction of its height that holds paint.
const paintedJS = `(id, f) => {
	const c = document.getElementById(id);
	const x = Math.min(c.width - 1, Math.floor(c.width * f));
	const d = c.getContext('2d').getImageData(x, 0, 1, c.height).data;
	let n = 0;
	for (let y = 0; y < c.height; y++) if (d[y * 4 + 3] > 0) n++;
	return n / c.height;
}`

func painted(t *testing.T, ctx context.Context, canvas string, f float64) float64 {
	t.Helper()
	return eval[float64](t, ctx, fmt.Sprintf("(%s)(%q, %g)", paintedJS, canvas, f))
}

// TestBrowserWaveform drives the waveform: it is drawn from the track's
// peaks (loud where the audio is loud), a drag on it chooses the clip that
// is submitted, zoom redraws a sub-range, the result's own waveform shows
// under the player, the keyboard moves the ends; and the states around it:
// a new file clears the last result, a file without audio cannot be
// submitted, a start past the end is caught in the page, the track list
// fits its card on a phone.
func TestBrowserWaveform(t *testing.T) {
	ctx := browser(t)
	base, token := startServer(t)
	out := artifacts(t)

	// 8 s whose audio is 0.8 loud for 4 s, then 0.2.
	fixture := testmedia.Make(t, "playground-steps.mp4",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=8",
		"-f", "lavfi", "-i", "aevalsrc=if(lt(t\\,4)\\,0.8\\,0.2)*sin(2*PI*440*t)|if(lt(t\\,4)\\,0.8\\,0.2)*sin(2*PI*440*t):s=48000:d=8",
		"-c:v", "libopenh264", "-b:v", "300k", "-c:a", "aac", "-b:a", "192k")
	video := filepath.Join(t.TempDir(), "steps.mp4")
	b, err := os.ReadFile(fixture)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(video, b, 0o644))

	run(t, ctx, 15*time.Second, "open the page",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("submit")),
		chromedp.SendKeys(chromedp.ID("token"), token),
	)

	// 1. The waveform is drawn: loud columns tall, quiet ones short.
	run(t, ctx, 20*time.Second, "probe and draw",
		chromedp.SetUploadFiles(chromedp.ID("video"), []string{video}),
		chromedp.WaitVisible(chromedp.ID("wave")),
		chromedp.Poll[chromedp.Void](`document.getElementById('wave-range').textContent.startsWith('Track 1')`),
	)
	loud, quiet := painted(t, ctx, "wave-canvas", 0.25), painted(t, ctx, "wave-canvas", 0.75)
	assert.InDelta(t, 0.8, loud, 0.1, "the loud half at 2 s")
	assert.InDelta(t, 0.2, quiet, 0.1, "the quiet half at 6 s")
	assert.Empty(t, eval[string](t, ctx, `document.getElementById('wave-note').textContent`), "8 s are not sampled")
	length := eval[float64](t, ctx, `Number(document.getElementById('handle-end').getAttribute('aria-valuemax'))`)
	require.InDelta(t, 8, length, 0.1, "the waveform spans the video")

	// The track list says everything it says without cutting it off.
	cut := eval[[]string](t, ctx, `(() => {
		const s = document.getElementById('track');
		const g = document.createElement('canvas').getContext('2d');
		g.font = getComputedStyle(s).font;
		return [...s.options].filter(o => g.measureText(o.text).width > s.clientWidth - 40).map(o => o.text);
	})()`)
	assert.Empty(t, cut, "track options wider than the dropdown")

	// 2. Drag from 30% to 55% of the waveform.
	box := eval[map[string]float64](t, ctx, `(() => { const r = document.getElementById('wave-box').getBoundingClientRect();
		window.scrollTo(0, window.scrollY + r.top - 100);
		const q = document.getElementById('wave-box').getBoundingClientRect();
		return {left: q.left, top: q.top, width: q.width, height: q.height}; })()`)
	x1, x2, y := box["left"]+0.30*box["width"], box["left"]+0.55*box["width"], box["top"]+box["height"]/2
	run(t, ctx, 10*time.Second, "drag a selection",
		chromedp.MouseEvent(chromedp.MouseMoved, x1, y),
		chromedp.MouseEvent(chromedp.MousePressed, x1, y, chromedp.ButtonLeft, chromedp.ClickCount(1)),
		chromedp.MouseEvent(chromedp.MouseMoved, (x1+x2)/2, y, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseMoved, x2, y, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseReleased, x2, y, chromedp.ButtonLeft, chromedp.ClickCount(1)),
	)
	pixel := length / box["width"] // one pixel's worth of time
	wantStart, wantEnd := 0.30*length, 0.55*length
	fields := eval[map[string]string](t, ctx, `({start: document.getElementById('start_time').value, duration: document.getElementById('duration').value})`)
	var gotStart, gotDur float64
	fmt.Sscan(fields["start"], &gotStart)
	fmt.Sscan(fields["duration"], &gotDur)
	assert.InDelta(t, wantStart, gotStart, pixel, "the start field follows the drag")
	assert.InDelta(t, wantEnd-wantStart, gotDur, pixel, "the duration field follows the drag")

	// 3. Zoom to the clip: a sub-range at the box's resolution.
	run(t, ctx, 20*time.Second, "zoom",
		chromedp.Click(chromedp.ID("zoom-in")),
		chromedp.Poll[chromedp.Void](`document.getElementById('wave-range').textContent.startsWith('Zoomed')`),
		chromedp.WaitVisible(chromedp.ID("zoom-out")),
	)
	band := eval[float64](t, ctx, `parseFloat(document.querySelector('.wave-sel').style.width)`)
	assert.InDelta(t, 100/1.2, band, 3, "the clip fills the zoomed view but for a margin")
	// The step at 4 s is at (4 - from) / (to - from) of the zoomed view.
	view := eval[map[string]float64](t, ctx, `(() => { const d = document.getElementById('wave-box').dataset; return {from: Number(d.from), to: Number(d.to)}; })()`)
	from, to := view["from"], view["to"]
	assert.InDelta(t, wantStart-0.1*(wantEnd-wantStart), from, 2*pixel, "the zoomed view starts a tenth of the clip before it")
	assert.InDelta(t, wantEnd+0.1*(wantEnd-wantStart), to, 2*pixel, "and ends a tenth after")
	step := (4 - from) / (to - from)
	assert.InDelta(t, 0.8, painted(t, ctx, "wave-canvas", step-0.05), 0.1, "loud before the step, zoomed")
	assert.InDelta(t, 0.2, painted(t, ctx, "wave-canvas", step+0.05), 0.1, "quiet after it, zoomed")

	// 4. Run the job: what is submitted is the dragged clip.
	run(t, ctx, 45*time.Second, "submit and wait for the result",
		chromedp.SetValue(chromedp.ID("output_format"), "wav"),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("result")),
		chromedp.WaitVisible(chromedp.ID("result-wave")),
	)
	id := regexp.MustCompile(`/status/([A-Za-z0-9_-]+)`).FindStringSubmatch(eval[string](t, ctx, `document.getElementById('curl-status').value`))
	require.Len(t, id, 2)
	req, err := http.NewRequest(http.MethodGet, base+"/job/extract/video/audio/status/"+id[1], nil)
	require.NoError(t, err)
	req.Header.Set("apy-token", token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	var st struct {
		Metadata struct {
			Request struct {
				StartTime float64 `json:"start_time"`
				Duration  float64 `json:"duration"`
			} `json:"request"`
		} `json:"metadata"`
	}
	require.NoError(t, json.Unmarshal(body, &st), "%s", body)
	assert.InDelta(t, wantStart, st.Metadata.Request.StartTime, pixel, "submitted start_time")
	assert.InDelta(t, wantEnd-wantStart, st.Metadata.Request.Duration, pixel, "submitted duration")

	// The result's own waveform, spanning the clip: loud up to 4 s of the
	// video, quiet after.
	require.NoError(t, chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`Number(document.getElementById('result-canvas').dataset.painted) > 0`)))
	clip := st.Metadata.Request
	at := func(videoTime float64) float64 { return (videoTime - clip.StartTime) / clip.Duration }
	assert.InDelta(t, 0.8, painted(t, ctx, "result-canvas", at(3.5)), 0.1, "the result is loud before 4 s")
	assert.InDelta(t, 0.2, painted(t, ctx, "result-canvas", at(4.3)), 0.1, "and quiet after")
	assert.Contains(t, eval[string](t, ctx, `document.getElementById('result-wave-note').textContent`), "the clip you selected")

	// The README's screenshot (internal/playground/screenshot.png) is
	// this one.
	screenshot(t, ctx, filepath.Join(out, "playground-waveform.png"))

	// 5. The keyboard: with the end focused, → adds one pixel's worth of
	// the zoomed view, Shift+→ fifty.
	before := eval[float64](t, ctx, `Number(document.getElementById('duration').value)`)
	zoomPixel := eval[float64](t, ctx, `(() => { const r = document.getElementById('wave-box').getBoundingClientRect(); return 1 / r.width; })()`) * (to - from)
	run(t, ctx, 10*time.Second, "nudge the end",
		chromedp.Focus(chromedp.ID("handle-end")),
		chromedp.KeyEvent(kb.ArrowRight),
	)
	after := eval[float64](t, ctx, `Number(document.getElementById('duration').value)`)
	assert.InDelta(t, before+zoomPixel, after, 0.0011, "→ moves the end by a pixel")
	run(t, ctx, 10*time.Second, "nudge the end further", chromedp.KeyEvent(kb.ArrowRight, chromedp.KeyModifiers(chromedp.ModifierShift)))
	further := eval[float64](t, ctx, `Number(document.getElementById('duration').value)`)
	assert.InDelta(t, after+50*zoomPixel, further, 0.0011, "Shift+→ moves it fifty")
	// And the fields move the selection: a start typed in moves the band.
	run(t, ctx, 10*time.Second, "type a start",
		chromedp.Click(chromedp.ID("zoom-out")),
		chromedp.Poll[chromedp.Void](`document.getElementById('wave-range').textContent.startsWith('Track')`),
		chromedp.Focus(chromedp.ID("start_time")),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.KeyEvent("2"),
	)
	assert.InDelta(t, 25, eval[float64](t, ctx, `parseFloat(document.querySelector('.wave-sel').style.left)`), 0.5, "the band starts at 2 s of 8")

	// 6. A start past the end is caught in the page: nothing submitted.
	run(t, ctx, 10*time.Second, "a start past the end",
		chromedp.SetValue(chromedp.ID("start_time"), "00:10.5"),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("start_time-error")),
	)
	assert.Regexp(t, `^The start is past the end of the audio\. The video is 8\.\d{3} s long\.$`,
		eval[string](t, ctx, `document.getElementById('start_time-error').textContent`))
	assert.Equal(t, "Done.", eval[string](t, ctx, `document.getElementById('job-status').textContent`), "no new job")

	// 7. On a phone, the track table stays inside its card.
	run(t, ctx, 10*time.Second, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	outside := eval[[]string](t, ctx, `[...document.querySelectorAll('section *')]
		.filter(el => el.getClientRects().length && el.getBoundingClientRect().right > el.closest('section').getBoundingClientRect().right + 0.5)
		.map(el => el.tagName + '#' + el.id + ' ' + el.textContent.slice(0, 30))`)
	assert.Empty(t, outside, "elements wider than their card at 390 px")
	run(t, ctx, 10*time.Second, "desktop viewport", chromedp.EmulateViewport(1000, 900))

	// 8. A file without audio: said at once, Extract disabled, and the
	// last file's result, waveform and messages gone.
	silent := filepath.Join(t.TempDir(), "silent.mp4")
	sb, err := os.ReadFile(testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 2, NoAudio: true}))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(silent, sb, 0o644))
	run(t, ctx, 20*time.Second, "pick a video without audio",
		chromedp.SetUploadFiles(chromedp.ID("video"), []string{silent}),
		chromedp.WaitVisible(chromedp.ID("video-error")),
	)
	assert.Equal(t, "This video has no audio track. Pick another file.", eval[string](t, ctx, `document.getElementById('video-error').textContent`))
	assert.True(t, eval[bool](t, ctx, `document.getElementById('submit').disabled`), "Extract is disabled")
	assert.True(t, eval[bool](t, ctx, `document.getElementById('job').hidden`), "the last job is gone")
	assert.True(t, eval[bool](t, ctx, `document.getElementById('wave').hidden`), "no waveform")
	assert.True(t, eval[bool](t, ctx, `document.getElementById('start_time-error').hidden`), "the last file's messages are gone")
	screenshot(t, ctx, filepath.Join(out, "playground-no-audio.png"))

	// Another file with audio brings Extract back.
	run(t, ctx, 20*time.Second, "pick the video again",
		chromedp.SetUploadFiles(chromedp.ID("video"), []string{video}),
		chromedp.Poll[chromedp.Void](`document.getElementById('wave-range').textContent.startsWith('Track 1')`),
	)
	assert.False(t, eval[bool](t, ctx, `document.getElementById('submit').disabled`))
}
