// Package timefmt parses and formats the media times people type: plain
// seconds ("90.25") and clock times ("1:30.25", "00:01:30.250"). It is exact
// to the nanosecond: no floating point is involved.
package timefmt

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// ErrSyntax is wrapped by every error Parse returns.
var ErrSyntax = errors.New("invalid time")

// Parse reads a non-negative time: seconds with an optional fraction
// ("90", "90.25", ".5"), or a clock time MM:SS[.fff] or HH:MM:SS[.fff] where
// the leading field may exceed its usual range ("90:00" is 90 minutes) and
// the others must be below 60. Up to 9 fractional digits are kept; more are
// an error rather than a silent rounding. Signs, exponents, spaces inside,
// NaN and infinities are rejected, as is anything above [Max].
func Parse(s string) (time.Duration, error) {
	d, err := parse(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%w %q: %w", ErrSyntax, s, err)
	}
	return d, nil
}

// Max is the largest time Parse accepts: 1,000,000 hours, far beyond any
// media and far from time.Duration's limit.
const Max = 1_000_000 * time.Hour

func parse(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	fields := strings.Split(s, ":")
	if len(fields) > 3 {
		return 0, errors.New("too many ':' fields (want HH:MM:SS)")
	}
	last := fields[len(fields)-1]
	whole, frac, hasFrac := strings.Cut(last, ".")
	if hasFrac && frac == "" && whole == "" {
		return 0, errors.New("no digits")
	}
	if len(frac) > 9 {
		return 0, errors.New("more than 9 fractional digits")
	}
	if !digits(frac) {
		return 0, errors.New("bad fraction")
	}
	if whole == "" && len(fields) > 1 {
		return 0, errors.New("missing seconds")
	}
	// Integer fields, most significant first; the seconds' whole part last.
	ints := append(fields[:len(fields)-1:len(fields)-1], whole)
	var total time.Duration
	for i, f := range ints {
		if f == "" {
			if i == len(ints)-1 && hasFrac { // ".5"
				continue
			}
			return 0, errors.New("empty field")
		}
		if !digits(f) {
			return 0, fmt.Errorf("bad number %q", f)
		}
		n, ok := atoi(f)
		if !ok {
			return 0, errors.New("too large")
		}
		if i > 0 && n >= 60 {
			return 0, fmt.Errorf("field %q must be below 60", f)
		}
		unit := []time.Duration{time.Second, time.Minute, time.Hour}[len(ints)-1-i]
		if n > uint64(Max/unit) {
			return 0, errors.New("too large")
		}
		total += time.Duration(n) * unit
	}
	if frac != "" {
		n, _ := atoi(frac + strings.Repeat("0", 9-len(frac)))
		total += time.Duration(n)
	}
	if total > Max {
		return 0, errors.New("too large")
	}
	return total, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// atoi parses a string of ASCII digits; false on overflow.
func atoi(s string) (uint64, bool) {
	var n uint64
	for i := 0; i < len(s); i++ {
		if n > (math.MaxUint64-9)/10 {
			return 0, false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	return n, true
}

// Format writes d as HH:MM:SS with the fraction of a second it has, trailing
// zeros dropped: "00:01:30.25", "01:00:00". Parse(Format(d)) == d for every
// d in [0, Max]. Negative durations get a leading "-".
func Format(d time.Duration) string {
	sign := ""
	u := uint64(d)
	if d < 0 {
		sign, u = "-", uint64(-d) // -MinInt64 wraps to itself, which uint64 reads right
	}
	ns := u % 1e9
	s := u / 1e9
	out := fmt.Sprintf("%s%02d:%02d:%02d", sign, s/3600, s/60%60, s%60)
	return out + fraction(ns)
}

// Seconds writes d as decimal seconds, exactly: "90.25", "2", "0.000001".
// This is the form the HTTP API's time fields take.
func Seconds(d time.Duration) string {
	sign := ""
	u := uint64(d)
	if d < 0 {
		sign, u = "-", uint64(-d)
	}
	return fmt.Sprintf("%s%d%s", sign, u/1e9, fraction(u%1e9))
}

// SecondsFloat is d in seconds as a float64, the form of the time fields of
// audex's JSON (the HTTP API's and the CLI's --json). It is the float
// nearest to d's exact decimal, so encoding/json prints what Seconds
// writes, 1.877333333 where time.Duration.Seconds, which rounds twice,
// gives 1.8773333330000002. That holds below a million seconds (15
// significant digits); longer times are as near as a float64 gets.
func SecondsFloat(d time.Duration) float64 {
	return float64(d) / 1e9
}

func fraction(ns uint64) string {
	if ns == 0 {
		return ""
	}
	return "." + strings.TrimRight(fmt.Sprintf("%09d", ns), "0")
}
