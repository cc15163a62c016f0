package httpapi

import (
	"bytes"
	"mime"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
)

var testKey = bytes.Repeat([]byte{7}, 32)

func testSigner(t testing.TB) *signer {
	t.Helper()
	s, err := newSigner(testKey)
	require.NoError(t, err)
	return s
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	s := testSigner(t)
	t0 := time.Unix(1_700_000_000, 0)
	path := "/results/AAAAAAAAAAAAAAAAAAAAAA/clip.mp3"
	q := s.sign(path, t0.Add(15*time.Minute))
	exp, sig := q.Get("exp"), q.Get("sig")
	require.Equal(t, strconv.FormatInt(t0.Add(15*time.Minute).Unix(), 10), exp)

	assert.NoError(t, s.verify(path, exp, sig, t0))
	assert.NoError(t, s.verify(path, exp, sig, t0.Add(14*time.Minute+59*time.Second)))
	assert.NoError(t, s.verify(path, exp, sig, t0.Add(15*time.Minute)))
	assert.ErrorIs(t, s.verify(path, exp, sig, t0.Add(15*time.Minute+time.Second)), errLinkExpired)

	// Tampering is 403-class, and checked before expiry.
	later := t0.Add(time.Hour)
	assert.ErrorIs(t, s.verify(path, exp+"0", sig, t0), errLinkInvalid)
	assert.ErrorIs(t, s.verify(path, "", sig, t0), errLinkInvalid, "dropping exp")
	assert.ErrorIs(t, s.verify(path, exp, "", t0), errLinkInvalid, "dropping sig")
	assert.ErrorIs(t, s.verify(path+"x", exp, sig, later), errLinkInvalid)
	assert.ErrorIs(t, s.verify(path, exp, sig+"=", t0), errLinkInvalid)
	assert.ErrorIs(t, s.verify(path, strconv.FormatInt(later.Unix()+1, 10), sig, later), errLinkInvalid)

	other, err := newSigner(bytes.Repeat([]byte{8}, 32))
	require.NoError(t, err)
	assert.ErrorIs(t, other.verify(path, exp, sig, t0), errLinkInvalid)

	// A link without expiry never expires.
	q = s.sign(path, time.Time{})
	assert.False(t, q.Has("exp"))
	assert.NoError(t, s.verify(path, "", q.Get("sig"), time.Unix(1<<40, 0)))

	_, err = newSigner(make([]byte, 31))
	assert.Error(t, err)
}

func TestLoadOrCreateKey(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	var wg sync.WaitGroup
	keys := make([][]byte, 4)
	for i := range keys {
		wg.Go(func() {
			k, err := loadOrCreateKey(dir)
			assert.NoError(t, err)
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys {
		assert.Len(t, k, 32)
		assert.Equal(t, keys[0], k, "every caller agrees on one key")
	}
	fi, err := os.Stat(filepath.Join(dir, "signing.key"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temp files left")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "signing.key"), []byte("short"), 0o600))
	_, err = loadOrCreateKey(dir)
	assert.Error(t, err)
}

func FuzzVerifySignedURL(f *testing.F) {
	s := testSigner(f)
	f.Add("/results/AAAAAAAAAAAAAAAAAAAAAA/clip.mp3", int64(1_700_000_900), int64(1_700_000_000), uint16(3), byte(1))
	f.Add("/results/x/y", int64(0), int64(5), uint16(0), byte(0x80))
	f.Add("", int64(-1), int64(0), uint16(40), byte(0xff))
	f.Fuzz(func(t *testing.T, path string, expUnix, nowUnix int64, pos uint16, flip byte) {
		now := time.Unix(nowUnix, 0)
		var exp time.Time
		if expUnix != 0 {
			exp = time.Unix(expUnix, 0)
		}
		q := s.sign(path, exp)
		e, sig := q.Get("exp"), q.Get("sig")
		err := s.verify(path, e, sig, now)
		if e != "" && nowUnix > expUnix {
			require.ErrorIs(t, err, errLinkExpired)
		} else {
			require.NoError(t, err)
		}
		// Any single-byte change of the triple is rejected as invalid.
		triple := []string{path, e, sig}
		i := int(pos) % 3
		b := []byte(triple[i])
		if flip == 0 {
			flip = 1
		}
		if len(b) == 0 {
			b = []byte{flip}
		} else {
			b[int(pos/3)%len(b)] ^= flip
		}
		triple[i] = string(b)
		err = s.verify(triple[0], triple[1], triple[2], now)
		require.ErrorIs(t, err, errLinkInvalid, "mutated %d: %q", i, triple[i])
		// Arbitrary strings as (path, exp, sig) never verify.
		require.ErrorIs(t, s.verify(path, strconv.FormatInt(expUnix, 10), path, now), errLinkInvalid)
	})
}

func TestDownloadNames(t *testing.T) {
	t.Parallel()
	cases := []struct{ client, display, ascii string }{
		{"holiday.mp4", "holiday.mp3", "holiday.mp3"},
		{`C:\Users\me\Vidéo été.mov`, "Vidéo été.mp3", "Vid_o_t.mp3"},
		{"../../etc/passwd\x00.mp4", "passwd.mp3", "passwd.mp3"},
		{"", "audio.mp3", "audio.mp3"},
		{".mp4", "audio.mp3", "audio.mp3"},
		{"日本語.mkv", "日本語.mp3", "audio.mp3"},
		{"a\"b\r\nSet-Cookie: x.mp4", "abSet-Cookie: x.mp3", "abSet-Cookie_x.mp3"},
		{"https://host/path/clip.webm", "clip.mp3", "clip.mp3"},
	}
	for _, c := range cases {
		d, a := downloadNames(c.client, extract.MP3)
		assert.Equal(t, c.display, d, c.client)
		assert.Equal(t, c.ascii, a, c.client)
	}
	d, _ := downloadNames(strings.Repeat("é", 500), extract.WAV)
	assert.Equal(t, maxNameRunes+len(".wav"), len([]rune(d)))
}

func TestContentDisposition(t *testing.T) {
	t.Parallel()
	h := contentDisposition("Vidéo été 100%.mp3", "Vid_o_t_100.mp3")
	assert.Equal(t, `attachment; filename="Vid_o_t_100.mp3"; filename*=UTF-8''Vid%C3%A9o%20%C3%A9t%C3%A9%20100%25.mp3`, h)
	typ, params, err := mime.ParseMediaType(h)
	require.NoError(t, err)
	assert.Equal(t, "attachment", typ)
	assert.Equal(t, "Vidéo été 100%.mp3", params["filename"], "filename* wins and decodes")
}

func FuzzContentDisposition(f *testing.F) {
	for _, s := range []string{"clip.mp4", "Vidéo été.mov", "a\"b\r\n.mp4", "../../x\x00.mp4", "%41;filename=evil", "\xff\xfe.mp4", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		display, ascii := downloadNames(name, extract.OGG)
		h := contentDisposition(display, ascii)
		for i := 0; i < len(h); i++ {
			require.True(t, h[i] >= 0x20 && h[i] < 0x7f, "non-printable or non-ASCII byte %q in %q", h[i], h)
		}
		require.Equal(t, 2, strings.Count(h, `"`), "no quote injection: %q", h)
		require.Equal(t, 2, strings.Count(h, ";"), "no parameter injection: %q", h)
		typ, params, err := mime.ParseMediaType(h)
		require.NoError(t, err, h)
		require.Equal(t, "attachment", typ)
		require.Equal(t, display, params["filename"], "filename* round-trips")
		require.True(t, strings.HasSuffix(display, ".ogg"))
		require.True(t, strings.HasSuffix(ascii, ".ogg"))
		require.Equal(t, ascii, asciiName(ascii), "ascii name is stable")
		require.NotContains(t, ascii, "/")
		require.False(t, strings.HasPrefix(ascii, "."))
	})
}
