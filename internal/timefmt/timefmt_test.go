package timefmt

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	t.Parallel()
	ok := map[string]time.Duration{
		"0":                  0,
		"90":                 90 * time.Second,
		"90.25":              90*time.Second + 250*time.Millisecond,
		" 2 ":                2 * time.Second,
		".5":                 500 * time.Millisecond,
		"5.":                 5 * time.Second,
		"1:30":               90 * time.Second,
		"01:30.250":          90*time.Second + 250*time.Millisecond,
		"90:00":              90 * time.Minute,
		"1:02:03.004":        time.Hour + 2*time.Minute + 3*time.Second + 4*time.Millisecond,
		"00:00:00.000000001": 1,
		"100:00:00":          100 * time.Hour,
		"1000000:00:00":      Max,
	}
	for in, want := range ok {
		got, err := Parse(in)
		if assert.NoError(t, err, in) {
			assert.Equal(t, want, got, in)
		}
	}
	bad := []string{
		"", " ", ".", ":", "-1", "+1", "1e3", "NaN", "Inf", "abc", "1:60", "1:2:60",
		"1:60:00", "1::2", ":5", "1:", "1:.5", "1:2:3:4", "0.0000000001", "1 0",
		"0x10", "1,5", "1000000:00:01", "99999999999999999999", "١٢",
	}
	for _, in := range bad {
		_, err := Parse(in)
		if assert.Error(t, err, in) {
			assert.True(t, errors.Is(err, ErrSyntax), in)
		}
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	cases := map[time.Duration]string{
		0:                                     "00:00:00",
		90*time.Second + 250*time.Millisecond: "00:01:30.25",
		time.Hour + time.Nanosecond:           "01:00:00.000000001",
		-1500 * time.Millisecond:              "-00:00:01.5",
		125 * time.Hour:                       "125:00:00",
	}
	for d, want := range cases {
		assert.Equal(t, want, Format(d))
	}
	assert.Equal(t, "90.25", Seconds(90*time.Second+250*time.Millisecond))
	assert.Equal(t, "2", Seconds(2*time.Second))
	assert.Equal(t, "0.000001", Seconds(time.Microsecond))
	assert.Equal(t, "-0.5", Seconds(-500*time.Millisecond))
}

// FuzzParse: Parse never panics, accepts only times in [0, Max], and the
// two formatters round-trip exactly.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "90.25", "1:30", "01:02:03.004", ".5", "1e3", "-1", "9:99", strings.Repeat("9", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			require.ErrorIs(t, err, ErrSyntax)
			return
		}
		require.GreaterOrEqual(t, d, time.Duration(0))
		require.LessOrEqual(t, d, Max)
		for _, txt := range []string{Format(d), Seconds(d)} {
			back, err := Parse(txt)
			require.NoError(t, err, txt)
			require.Equal(t, d, back, txt)
		}
	})
}

// SecondsFloat is the float nearest to the exact decimal Seconds writes, so
// encoding/json prints that decimal (in exponent form below a microsecond).
func TestSecondsFloat(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	ds := []time.Duration{0, 1, 2500 * time.Millisecond, 1877333333, 999_999*time.Second + 999_999_999, -1877333333}
	for range 100_000 {
		ds = append(ds, time.Duration(r.Int64N(int64(1_000_000*time.Second))))
	}
	for _, d := range ds {
		exact, err := strconv.ParseFloat(Seconds(d), 64)
		require.NoError(t, err)
		require.Equal(t, exact, SecondsFloat(d), "%d ns", int64(d))
		if d >= time.Microsecond {
			b, err := json.Marshal(SecondsFloat(d))
			require.NoError(t, err)
			require.Equal(t, Seconds(d), string(b), "%d ns", int64(d))
		}
	}
	assert.Equal(t, 2.5, SecondsFloat(2500*time.Millisecond))
	assert.NotEqual(t, time.Duration(1877333333).Seconds(), SecondsFloat(1877333333), "Duration.Seconds rounds twice")
}
