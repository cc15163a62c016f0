package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/fetch"
	"github.com/audex/audex/internal/timefmt"
)

// Field names of a submit request. The first five are the hosted API's; the
// rest are audex extensions.
const (
	fieldVideo      = "video"
	fieldVideoURL   = "video_url"
	fieldStart      = "start_time"
	fieldDuration   = "duration"
	fieldFormat     = "output_format"
	fieldFullAudio  = "full_audio"
	fieldPersistent = "persistent"
	fieldTrack      = "track"
	fieldLanguage   = "language"
	fieldSampleRate = "sample_rate"
	fieldChannels   = "channels"
	fieldBitrate    = "bitrate"
	fieldCopy       = "copy"
	fieldWebhookURL = "webhook_url"
)

// paramFields are the option fields ParseJobParams reads, in the order errors
// are reported.
var paramFields = []string{
	fieldStart, fieldDuration, fieldFormat, fieldFullAudio, fieldPersistent,
	fieldTrack, fieldLanguage, fieldSampleRate, fieldChannels, fieldBitrate, fieldCopy,
	fieldWebhookURL,
}

// Bounds of the submit parameters.
const (
	// DefaultDuration is the hosted API's default clip length.
	DefaultDuration = 2 * time.Second
	// MaxStart is the latest start_time accepted.
	MaxStart = 100 * time.Hour
	// MaxDuration is the longest duration accepted (the extractor's default
	// output limit).
	MaxDuration = extract.DefaultMaxOutputDuration
	// maxValueLen bounds one parameter's text.
	maxValueLen = 64
	minBitrate  = 4_000
	maxBitrate  = 2_000_000
	maxChannels = 8
	maxTrack    = 1000
)

// sampleRates are the output rates a client may ask for.
var sampleRates = []int{8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400, 192000}

// JobParams are the validated options of one submit request.
type JobParams struct {
	// Start is start_time. Defaults to 0.
	Start time.Duration
	// Duration is duration; 0 when FullAudio is set. Defaults to 2 s.
	Duration time.Duration
	// FullAudio extracts from Start to the end; duration is then ignored.
	FullAudio bool
	// Format is output_format. Defaults to MP3.
	Format extract.Format
	// Persistent keeps the result instead of expiring it.
	Persistent bool
	// Track, Language, SampleRate, Channels, Bitrate and Copy are the audex
	// extensions; zero values mean the extractor's defaults.
	Track      int
	Language   string
	SampleRate int
	Channels   int
	Bitrate    int
	Copy       extract.CopyMode
	// WebhookURL is webhook_url: where to POST the job's final status.
	// ParseJobParams checks its form (an absolute http or https URL of at
	// most 4096 bytes); whether its address may be reached is the server's
	// AllowPrivateFetch, checked at submission and again when connecting.
	WebhookURL string
}

// FieldError is one rejected parameter.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ParamsError lists every rejected parameter of a request. It is answered
// with 400.
type ParamsError struct {
	Fields []FieldError
}

func (e *ParamsError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid parameters: " + strings.Join(parts, "; ")
}

func (e *ParamsError) add(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// fieldReader returns a reader of v's single-valued fields: the trimmed
// value and true, or false for a field absent, given twice, empty or over
// maxValueLen (recorded in perr, but for the absent one).
func fieldReader(v url.Values, perr *ParamsError) func(name string) (string, bool) {
	return func(name string) (string, bool) {
		vals, ok := v[name]
		if !ok {
			return "", false
		}
		switch {
		case len(vals) != 1:
			perr.add(name, "given %d times", len(vals))
			return "", false
		case len(vals[0]) > maxValueLen:
			perr.add(name, "longer than %d bytes", maxValueLen)
			return "", false
		}
		s := strings.TrimSpace(vals[0])
		if s == "" {
			perr.add(name, "empty value")
			return "", false
		}
		return s, true
	}
}

// parseTrack reads the track and language fields (0 and "" when absent).
func parseTrack(get func(string) (string, bool), perr *ParamsError) (track int, language string) {
	if s, ok := get(fieldTrack); ok {
		n, err := parseInt(s, 1, maxTrack)
		if err != nil {
			perr.add(fieldTrack, "%v", err)
		}
		track = n
	}
	if s, ok := get(fieldLanguage); ok {
		if !isLanguage(s) {
			perr.add(fieldLanguage, "want an ISO 639 code of 2 or 3 letters")
		} else {
			language = strings.ToLower(s)
		}
	}
	return track, language
}

// ParseJobParams validates the option fields of a submit request. Fields it
// does not know are ignored, as the hosted API does; a field given twice, or
// given empty, is an error. Every bad field is reported, not only the first.
func ParseJobParams(v url.Values) (JobParams, error) {
	p := JobParams{Duration: DefaultDuration, Format: extract.MP3, Copy: extract.CopyAuto}
	perr := &ParamsError{}
	get := fieldReader(v, perr)

	if s, ok := get(fieldFullAudio); ok {
		b, err := parseBool(s)
		if err != nil {
			perr.add(fieldFullAudio, "%v", err)
		}
		p.FullAudio = b
	}
	if s, ok := get(fieldPersistent); ok {
		b, err := parseBool(s)
		if err != nil {
			perr.add(fieldPersistent, "%v", err)
		}
		p.Persistent = b
	}
	if s, ok := get(fieldStart); ok {
		d, err := ParseTime(s)
		switch {
		case err != nil:
			perr.add(fieldStart, "%v", err)
		case d > MaxStart:
			perr.add(fieldStart, "after the %s limit", timefmt.Seconds(MaxStart))
		default:
			p.Start = d
		}
	}
	if p.FullAudio {
		// The hosted API ignores duration with full_audio, whatever it says.
		p.Duration = 0
	} else if s, ok := get(fieldDuration); ok {
		d, err := ParseTime(s)
		switch {
		case err != nil:
			perr.add(fieldDuration, "%v", err)
		case d == 0:
			perr.add(fieldDuration, "must be greater than 0 (use full_audio for the whole audio)")
		case d < extract.MinDuration:
			perr.add(fieldDuration, "shorter than the %s minimum", timefmt.Seconds(extract.MinDuration))
		case d > MaxDuration:
			perr.add(fieldDuration, "longer than the %s limit", timefmt.Seconds(MaxDuration))
		default:
			p.Duration = d
		}
	}
	if s, ok := get(fieldFormat); ok {
		f, err := extract.ParseFormat(s)
		if err != nil {
			perr.add(fieldFormat, "unknown format %q (want one of %s)", s, formatNames())
		}
		if f != "" {
			p.Format = f
		}
	}
	p.Track, p.Language = parseTrack(get, perr)
	if s, ok := get(fieldSampleRate); ok {
		n, err := parseInt(s, sampleRates[0], sampleRates[len(sampleRates)-1])
		switch {
		case err != nil:
			perr.add(fieldSampleRate, "%v", err)
		case !slices.Contains(sampleRates, n):
			perr.add(fieldSampleRate, "%d Hz is not one of %v", n, sampleRates)
		default:
			p.SampleRate = n
		}
	}
	if s, ok := get(fieldChannels); ok {
		n, err := parseInt(s, 1, maxChannels)
		if err != nil {
			perr.add(fieldChannels, "%v", err)
		}
		p.Channels = n
	}
	if s, ok := get(fieldBitrate); ok {
		n, err := parseBitrate(s)
		if err != nil {
			perr.add(fieldBitrate, "%v", err)
		}
		p.Bitrate = n
	}
	if s, ok := get(fieldCopy); ok {
		m, err := extract.ParseCopyMode(s)
		if err != nil {
			perr.add(fieldCopy, "want auto, never or always")
		} else {
			p.Copy = m
		}
	}
	// A URL is longer than the other fields: its own bound.
	if vals, ok := v[fieldWebhookURL]; ok {
		s := ""
		if len(vals) == 1 {
			s = strings.TrimSpace(vals[0])
		}
		switch {
		case len(vals) != 1:
			perr.add(fieldWebhookURL, "given %d times", len(vals))
		case s == "":
			perr.add(fieldWebhookURL, "empty value")
		default:
			if err := fetch.Check(s, true); err != nil {
				perr.add(fieldWebhookURL, "%v", err)
			} else {
				p.WebhookURL = s
			}
		}
	}
	if len(perr.Fields) > 0 {
		return JobParams{}, perr
	}
	return p, nil
}

// Encode returns the canonical form of p, such that ParseJobParams(p.Encode())
// gives p back.
func (p JobParams) Encode() url.Values {
	v := url.Values{}
	v.Set(fieldStart, timefmt.Seconds(p.Start))
	if p.FullAudio {
		v.Set(fieldFullAudio, "true")
	} else {
		v.Set(fieldDuration, timefmt.Seconds(p.Duration))
	}
	v.Set(fieldFormat, p.Format.String())
	if p.Persistent {
		v.Set(fieldPersistent, "true")
	}
	setInt := func(k string, n int) {
		if n != 0 {
			v.Set(k, strconv.Itoa(n))
		}
	}
	setInt(fieldTrack, p.Track)
	setInt(fieldSampleRate, p.SampleRate)
	setInt(fieldChannels, p.Channels)
	setInt(fieldBitrate, p.Bitrate)
	if p.Language != "" {
		v.Set(fieldLanguage, p.Language)
	}
	v.Set(fieldCopy, p.Copy.String())
	if p.WebhookURL != "" {
		v.Set(fieldWebhookURL, p.WebhookURL)
	}
	return v
}

// Options returns the extraction options p asks for.
func (p JobParams) Options() extract.Options {
	return extract.Options{
		Format:     p.Format,
		Start:      p.Start,
		Duration:   p.Duration,
		Track:      p.Track,
		Language:   p.Language,
		SampleRate: p.SampleRate,
		Channels:   p.Channels,
		Bitrate:    p.Bitrate,
		Copy:       p.Copy,
	}
}

// ParseTime parses a non-negative time given as seconds ("90", "90.25") or
// as a clock ("MM:SS", "HH:MM:SS", each with an optional ".fraction").
// Fractions finer than a nanosecond are truncated. Signs, exponents, NaN and
// infinities are errors.
func ParseTime(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty time")
	}
	if len(s) > maxValueLen {
		return 0, fmt.Errorf("time longer than %d bytes", maxValueLen)
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	if hasFrac && (frac == "" || !allDigits(frac)) {
		return 0, fmt.Errorf("invalid time %q: want seconds or HH:MM:SS.mmm", s)
	}
	parts := strings.Split(whole, ":")
	if len(parts) > 3 {
		return 0, fmt.Errorf("invalid time %q: want seconds or HH:MM:SS.mmm", s)
	}
	var secs int64
	for i, part := range parts {
		if part == "" || !allDigits(part) || (i > 0 && len(part) > 2) {
			return 0, fmt.Errorf("invalid time %q: want seconds or HH:MM:SS.mmm", s)
		}
		// 12 digits of seconds is far past any limit and cannot overflow.
		if len(strings.TrimLeft(part, "0")) > 12 {
			return 0, fmt.Errorf("time %q out of range", s)
		}
		n, _ := strconv.ParseInt(part, 10, 64)
		if i > 0 && n > 59 {
			return 0, fmt.Errorf("invalid time %q: minutes and seconds run to 59", s)
		}
		secs = secs*60 + n
	}
	if secs > int64(MaxStart/time.Second)*10 {
		return 0, fmt.Errorf("time %q out of range", s)
	}
	d := time.Duration(secs) * time.Second
	if hasFrac {
		frac = (frac + "000000000")[:9]
		ns, _ := strconv.ParseInt(frac, 10, 64)
		d += time.Duration(ns)
	}
	return d, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("want true or false, not %q", s)
}

func parseInt(s string, lo, hi int) (int, error) {
	if !allDigits(s) || len(s) > 10 {
		return 0, fmt.Errorf("want an integer from %d to %d", lo, hi)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("want an integer from %d to %d", lo, hi)
	}
	return n, nil
}

// parseBitrate reads bits per second, also as "128k".
func parseBitrate(s string) (int, error) {
	mult := 1
	if t, ok := strings.CutSuffix(strings.ToLower(s), "k"); ok {
		s, mult = t, 1000
	}
	n, err := parseInt(s, 1, maxBitrate)
	if err != nil || n*mult < minBitrate || n*mult > maxBitrate {
		return 0, fmt.Errorf("want bits per second from %d to %d (or e.g. 128k)", minBitrate, maxBitrate)
	}
	return n * mult, nil
}

func isLanguage(s string) bool {
	if len(s) < 2 || len(s) > 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func formatNames() string {
	var names []string
	for _, f := range extract.Formats() {
		names = append(names, f.String())
	}
	return strings.Join(names, ", ")
}

// maxJSONBody bounds a JSON submit body.
const maxJSONBody = 64 << 10

// valuesFromJSON turns a JSON object into form values: strings as they are,
// numbers as their literal text, booleans as "true"/"false", null as absent.
// Nested objects and arrays are errors.
func valuesFromJSON(r io.Reader) (url.Values, error) {
	dec := json.NewDecoder(io.LimitReader(r, maxJSONBody+1))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("body is not a JSON object: %w", err)
	}
	if obj == nil {
		return nil, errors.New("body is not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("body holds more than one JSON value")
	}
	perr := &ParamsError{}
	v := url.Values{}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch x := obj[k].(type) {
		case nil:
		case string:
			v.Set(k, x)
		case json.Number:
			v.Set(k, x.String())
		case bool:
			v.Set(k, strconv.FormatBool(x))
		default:
			perr.add(k, "want a string, number or boolean")
		}
	}
	if len(perr.Fields) > 0 {
		return nil, perr
	}
	return v, nil
}

// isJSON reports whether a media type names JSON.
func isJSON(mediaType string) bool {
	return mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
}
