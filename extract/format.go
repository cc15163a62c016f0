package extract

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Format is an output container and codec pair, named by its usual file
// extension.
type Format string

// The output formats audex writes.
const (
	MP3  Format = "mp3"  // MPEG-1 Layer III (LAME) with a Xing/LAME gapless header
	WAV  Format = "wav"  // 16-bit PCM in RIFF/WAVE
	AAC  Format = "aac"  // AAC-LC in ADTS
	OGG  Format = "ogg"  // Vorbis in Ogg
	FLAC Format = "flac" // FLAC
	WMA  Format = "wma"  // WMAv2 in ASF
	AC3  Format = "ac3"  // Dolby Digital (raw AC-3)
	AMR  Format = "amr"  // AMR-NB, 8 kHz mono
	M4A  Format = "m4a"  // AAC-LC in MP4 with an edit list for encoder delay
	OPUS Format = "opus" // Opus in Ogg (RFC 7845), pre-skip and end granule signalled
)

var formats = []Format{MP3, WAV, AAC, OGG, FLAC, WMA, AC3, AMR, M4A, OPUS}

// Formats lists every output format, in a stable order.
func Formats() []Format { return append([]Format(nil), formats...) }

// String returns the format's name, which is also its file extension without
// the dot.
func (f Format) String() string { return string(f) }

// ParseFormat parses a format name such as "mp3" or ".MP3". An empty string is
// an error; callers that want the default use [MP3] themselves.
func ParseFormat(s string) (Format, error) {
	n := Format(strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), ".")))
	switch n {
	case "oga":
		return OGG, nil
	case "mp4a":
		return M4A, nil
	}
	for _, f := range formats {
		if f == n {
			return f, nil
		}
	}
	return "", fmt.Errorf("%w: output format %q (want one of %s)", ErrUnsupportedFormat, s, formatList())
}

// FormatFromPath infers the format from a file name's extension.
func FormatFromPath(path string) (Format, bool) {
	ext := filepath.Ext(path)
	if ext == "" {
		return "", false
	}
	f, err := ParseFormat(ext)
	return f, err == nil
}

// Extension returns the file extension with its dot, e.g. ".mp3".
func (f Format) Extension() string { return "." + string(f) }

// MIMEType returns the media type to serve the format with.
func (f Format) MIMEType() string {
	switch f {
	case MP3:
		return "audio/mpeg"
	case WAV:
		return "audio/wav"
	case AAC:
		return "audio/aac"
	case OGG:
		return "audio/ogg"
	case FLAC:
		return "audio/flac"
	case WMA:
		return "audio/x-ms-wma"
	case AC3:
		return "audio/ac3"
	case AMR:
		return "audio/amr"
	case M4A:
		return "audio/mp4"
	case OPUS:
		return "audio/opus"
	}
	return "application/octet-stream"
}

func (f Format) valid() bool {
	for _, g := range formats {
		if f == g {
			return true
		}
	}
	return false
}

func formatList() string {
	s := make([]string, len(formats))
	for i, f := range formats {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// CopyMode says whether source packets may be copied without re-encoding.
type CopyMode string

const (
	// CopyAuto copies when the output container accepts the source codec and
	// the copy is exact: lossless and, as a decoder plays it back, the
	// requested samples. A cut is exact where the container signals the
	// samples to drop at both ends (m4a: an edit list; mp3: the LAME tag's
	// encoder delay and padding), the packets the decoder needs before the
	// cut copied too; elsewhere only the whole track is copied. Otherwise it
	// re-encodes. The zero value means CopyAuto.
	CopyAuto CopyMode = "auto"
	// CopyNever always decodes and re-encodes.
	CopyNever CopyMode = "never"
	// CopyAlways copies exactly as CopyAuto does, or fails with
	// [ErrUnsupportedOption] saying why it cannot (a container that cannot
	// signal a cut, such as ADTS, AC-3 or AMR; a cut the LAME tag's 12-bit
	// fields cannot express).
	CopyAlways CopyMode = "always"
)

// String returns the mode's name.
func (m CopyMode) String() string {
	if m == "" {
		return string(CopyAuto)
	}
	return string(m)
}

// ParseCopyMode parses "auto", "never" or "always" (also "", "yes"/"no").
func ParseCopyMode(s string) (CopyMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return CopyAuto, nil
	case "never", "no", "false", "0":
		return CopyNever, nil
	case "always", "yes", "true", "1":
		return CopyAlways, nil
	}
	return "", fmt.Errorf("%w: copy mode %q (want auto, never or always)", ErrUnsupportedOption, s)
}
