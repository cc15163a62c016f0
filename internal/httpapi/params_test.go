package httpapi

import (
	"math"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/fetch"
)

func TestParseTime(t *testing.T) {
	t.Parallel()
	good := map[string]time.Duration{
		"0":                 0,
		"2":                 2 * time.Second,
		"90.25":             90*time.Second + 250*time.Millisecond,
		"0.5":               500 * time.Millisecond,
		"007":               7 * time.Second,
		"1:30":              90 * time.Second,
		"90:00":             90 * time.Minute,
		"01:02:03.456":      time.Hour + 2*time.Minute + 3*time.Second + 456*time.Millisecond,
		"0:00:00.000000001": 1,
		"1.0000000019":      time.Second + 1, // truncated past nanoseconds
	}
	for in, want := range good {
		got, err := ParseTime(in)
		if assert.NoError(t, err, in) {
			assert.Equal(t, want, got, in)
		}
	}
	bad := []string{
		"", "-1", "+1", "NaN", "nan", "Inf", "+Inf", "infinity", "1e309", "1e3", "0x10", "abc",
		"1.", ".5", "1..2", "1:2:3:4", "1:60", "1:2:60", "1:123", ":30", "1:", "1_000",
		"1,5", " 1", "١", "99999999999999999999", "9999999999999",
	}
	for _, in := range bad {
		_, err := ParseTime(in)
		assert.Error(t, err, "%q", in)
	}
}

func TestParseJobParamsDefaults(t *testing.T) {
	t.Parallel()
	p, err := ParseJobParams(url.Values{"video_url": {"x"}, "unknown": {"ignored"}})
	require.NoError(t, err)
	assert.Equal(t, JobParams{Duration: 2 * time.Second, Format: extract.MP3, Copy: extract.CopyAuto}, p)
	assert.Equal(t, extract.Options{Format: extract.MP3, Duration: 2 * time.Second, Copy: extract.CopyAuto}, p.Options())
}

func TestParseJobParamsAll(t *testing.T) {
	t.Parallel()
	p, err := ParseJobParams(url.Values{
		"start_time": {"00:01:05.5"}, "duration": {" 3.25 "}, "output_format": {"FLAC"},
		"persistent": {"1"}, "track": {"2"}, "language": {"ENG"}, "sample_rate": {"44100"},
		"channels": {"1"}, "bitrate": {"192k"}, "copy": {"never"},
		"webhook_url": {" https://hooks.example.com/audex?key=" + strings.Repeat("k", 100) + " "},
	})
	require.NoError(t, err)
	assert.Equal(t, JobParams{
		Start: 65500 * time.Millisecond, Duration: 3250 * time.Millisecond, Format: extract.FLAC,
		Persistent: true, Track: 2, Language: "eng", SampleRate: 44100, Channels: 1, Bitrate: 192000,
		Copy: extract.CopyNever, WebhookURL: "https://hooks.example.com/audex?key=" + strings.Repeat("k", 100),
	}, p)
	again, err := ParseJobParams(p.Encode())
	require.NoError(t, err)
	assert.Equal(t, p, again)
	assert.Equal(t, extract.Options{
		Format: extract.FLAC, Start: 65500 * time.Millisecond, Duration: 3250 * time.Millisecond,
		Track: 2, Language: "eng", SampleRate: 44100, Channels: 1, Bitrate: 192000, Copy: extract.CopyNever,
	}, p.Options())
}

// TestParseJobParamsMinDuration: the shortest clip is extract.MinDuration
// (a shorter one could hold no sample); under it is a field error at
// submit, not a failed job.
func TestParseJobParamsMinDuration(t *testing.T) {
	t.Parallel()
	p, err := ParseJobParams(url.Values{"duration": {"0.001"}})
	require.NoError(t, err)
	assert.Equal(t, extract.MinDuration, p.Duration)
	_, err = ParseJobParams(url.Values{"duration": {"0.0000001"}})
	var perr *ParamsError
	require.ErrorAs(t, err, &perr)
	assert.Contains(t, err.Error(), "duration")
	assert.Contains(t, err.Error(), "minimum")
}

func TestParseJobParamsFullAudioIgnoresDuration(t *testing.T) {
	t.Parallel()
	for _, dur := range []string{"5", "garbage", ""} {
		p, err := ParseJobParams(url.Values{"full_audio": {"true"}, "duration": {dur}, "start_time": {"1"}})
		require.NoError(t, err, dur)
		assert.True(t, p.FullAudio)
		assert.Zero(t, p.Duration)
		assert.Equal(t, time.Second, p.Start)
		assert.Zero(t, p.Options().Duration, "0 means to the end")
	}
}

func TestParseJobParamsErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		field, value string
	}{
		{"start_time", "-1"}, {"start_time", "NaN"}, {"start_time", "Inf"}, {"start_time", "1e309"},
		{"start_time", "abc"}, {"start_time", ""}, {"start_time", "   "}, {"start_time", "360001"},
		{"duration", "0"}, {"duration", "0.000"}, {"duration", "-2"}, {"duration", "21601"},
		{"duration", "0.0000001"}, {"duration", "0.0009"}, // under extract.MinDuration
		{"output_format", "../../x"}, {"output_format", "mp4"}, {"output_format", ""},
		{"sample_rate", "0"}, {"sample_rate", "7"}, {"sample_rate", "1000000000"}, {"sample_rate", "44101"},
		{"channels", "0"}, {"channels", "1000"}, {"channels", "-1"},
		{"bitrate", "12"}, {"bitrate", "9999999"}, {"bitrate", "1.5k"},
		{"track", "0"}, {"track", "x"}, {"language", "english"}, {"language", "e1"},
		{"copy", "maybe"}, {"full_audio", "perhaps"}, {"persistent", "2"},
		{"start_time", strings.Repeat("1", 65)},
		{"webhook_url", ""}, {"webhook_url", "ftp://example.com/"}, {"webhook_url", "/hook"},
		{"webhook_url", "http://user:pw@example.com/"}, {"webhook_url", "https://x.example/" + strings.Repeat("a", 4096)},
	}
	for _, c := range cases {
		_, err := ParseJobParams(url.Values{c.field: {c.value}})
		var perr *ParamsError
		if assert.ErrorAs(t, err, &perr, "%s=%q", c.field, c.value) {
			require.Len(t, perr.Fields, 1)
			assert.Equal(t, c.field, perr.Fields[0].Field)
			assert.NotEmpty(t, perr.Fields[0].Message)
		}
	}
}

func TestParseJobParamsReportsEveryField(t *testing.T) {
	t.Parallel()
	_, err := ParseJobParams(url.Values{
		"start_time": {"x"}, "duration": {"1", "2"}, "output_format": {"exe"}, "channels": {"99"},
	})
	var perr *ParamsError
	require.ErrorAs(t, err, &perr)
	var fields []string
	for _, f := range perr.Fields {
		fields = append(fields, f.Field)
	}
	assert.ElementsMatch(t, []string{"start_time", "duration", "output_format", "channels"}, fields)
	assert.Contains(t, err.Error(), "given 2 times")
}

func TestValuesFromJSON(t *testing.T) {
	t.Parallel()
	v, err := valuesFromJSON(strings.NewReader(`{"video_url":"http://x/a.mp4","start_time":1.5,"full_audio":true,"track":null,"duration":"3"}`))
	require.NoError(t, err)
	assert.Equal(t, url.Values{"video_url": {"http://x/a.mp4"}, "start_time": {"1.5"}, "full_audio": {"true"}, "duration": {"3"}}, v)

	for _, body := range []string{`[]`, `null`, `"x"`, `{"a":1} {}`, `{"start_time":[1]}`, `{"start_time":{}}`, `{`, strings.Repeat(" ", maxJSONBody+2)} {
		_, err := valuesFromJSON(strings.NewReader(body))
		assert.Error(t, err, body)
	}
	// Numbers keep their literal text, so 1e309 or -1 fail in the parser.
	v, err = valuesFromJSON(strings.NewReader(`{"start_time":1e309}`))
	require.NoError(t, err)
	_, err = ParseJobParams(v)
	assert.Error(t, err)
}

// checkParams asserts the invariants every accepted JobParams must hold.
func checkParams(t *testing.T, p JobParams) {
	t.Helper()
	require.GreaterOrEqual(t, p.Start, time.Duration(0))
	require.LessOrEqual(t, p.Start, MaxStart)
	if p.FullAudio {
		require.Zero(t, p.Duration)
	} else {
		require.Greater(t, p.Duration, time.Duration(0))
		require.LessOrEqual(t, p.Duration, MaxDuration)
		require.Less(t, p.Start, p.Start+p.Duration, "no overflow")
	}
	require.Contains(t, extract.Formats(), p.Format)
	require.True(t, p.SampleRate == 0 || slices.Contains(sampleRates, p.SampleRate), p.SampleRate)
	require.True(t, p.Channels >= 0 && p.Channels <= maxChannels, p.Channels)
	require.True(t, p.Bitrate == 0 || (p.Bitrate >= minBitrate && p.Bitrate <= maxBitrate), p.Bitrate)
	require.True(t, p.Track >= 0 && p.Track <= maxTrack)
	require.Contains(t, []extract.CopyMode{extract.CopyAuto, extract.CopyNever, extract.CopyAlways}, p.Copy)
	if p.WebhookURL != "" {
		require.NoError(t, fetch.Check(p.WebhookURL, true))
	}
	again, err := ParseJobParams(p.Encode())
	require.NoError(t, err)
	require.Equal(t, p, again, "Parse(Encode(p)) == p")
}

func TestParseJobParamsProperty(t *testing.T) {
	t.Parallel()
	// Random strings into every field: each is rejected or yields valid params.
	alphabet := []string{"0", "1", "9", ".", ":", "-", "+", "e", "E", "NaN", "Inf", " ", "x", "k", "5", "59", "60", "true", "mp3", "", "\x00"}
	seed := uint64(1)
	next := func(n int) int {
		seed = seed*6364136223846793005 + 1442695040888963407
		return int((seed >> 33) % uint64(n))
	}
	accepted := 0
	for range 10_000 {
		v := url.Values{}
		for _, f := range paramFields {
			if next(2) == 0 {
				continue
			}
			var b strings.Builder
			for range next(5) {
				b.WriteString(alphabet[next(len(alphabet))])
			}
			v.Set(f, b.String())
		}
		p, err := ParseJobParams(v)
		if err == nil {
			accepted++
			checkParams(t, p)
		}
	}
	assert.Positive(t, accepted)
}

func FuzzParseJobParams(f *testing.F) {
	f.Add("start_time=1.5&duration=2&output_format=wav", false)
	f.Add("start_time=00:01:02.5&full_audio=true&persistent=1&track=2&language=eng&sample_rate=48000&channels=2&bitrate=128k&copy=never", false)
	f.Add("start_time=NaN&duration=1e309", false)
	f.Add("duration=0&output_format=../../x", false)
	f.Add(`{"start_time":1.5,"duration":"2","full_audio":false,"output_format":"ogg"}`, true)
	f.Add(`{"start_time":-1,"sample_rate":1e9}`, true)
	f.Add("webhook_url=https://hooks.example.com/audex?k=1", false)
	f.Add(`{"webhook_url":"ftp://x","duration":1}`, true)
	f.Fuzz(func(t *testing.T, data string, asJSON bool) {
		var v url.Values
		var err error
		if asJSON {
			v, err = valuesFromJSON(strings.NewReader(data))
		} else {
			v, err = url.ParseQuery(data)
		}
		if err != nil {
			return
		}
		p, err := ParseJobParams(v)
		if err != nil {
			var perr *ParamsError
			require.ErrorAs(t, err, &perr)
			require.NotEmpty(t, perr.Fields)
			return
		}
		checkParams(t, p)
		require.False(t, math.IsNaN(p.Start.Seconds()))
	})
}
