package cli

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBarLines(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start.Add(4 * time.Second)
	b := &bar{w: &out, desc: "extracting", start: start, clock: func() time.Time { return now }}
	b.set(0.5, "extracting 00:01")
	assert.Equal(t, "\r\x1b[Kextracting 00:01  50% |"+strings.Repeat("█", 15)+strings.Repeat(" ", 15)+"| [4s:4s]", out.String())
	out.Reset()
	now = now.Add(barThrottle - time.Millisecond)
	b.set(0.6, "")
	assert.Empty(t, out.String(), "throttled")
	now = now.Add(time.Millisecond)
	b.set(0.75, "")
	assert.Equal(t, "\r\x1b[Kextracting 00:01  75% |"+strings.Repeat("█", 22)+strings.Repeat(" ", 8)+"| [4s:1s]", out.String())
	out.Reset()
	b.done()
	assert.Equal(t, "\r\x1b[K", out.String(), "cleared")

	out.Reset()
	up := &bar{w: &out, desc: "uploading", bytes: true, size: 2000, start: time.Now()}
	n, err := io.Copy(io.Discard, up.reader(strings.NewReader(strings.Repeat("x", 1500))))
	require.NoError(t, err)
	assert.EqualValues(t, 1500, n)
	assert.Contains(t, out.String(), "uploading  75% |")
	assert.Contains(t, out.String(), "(1.5 kB/2.0 kB, ")

	out.Reset()
	down := &bar{w: &out, desc: "downloading", bytes: true, size: -1, start: time.Now()}
	io.Copy(io.Discard, down.reader(strings.NewReader("abc")))
	assert.Contains(t, out.String(), "downloading 3 B (")
	assert.NotContains(t, out.String(), "%")

	var none *bar
	none.set(1, "x")
	none.done()
	assert.Equal(t, "r", readAll(t, none.reader(strings.NewReader("r"))))
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(b)
}
