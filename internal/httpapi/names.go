package httpapi

import (
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/audex/audex/extract"
)

// maxNameRunes bounds the stem of a download file name.
const maxNameRunes = 100

// downloadStem derives a file name stem from a client's file name or URL path:
// the last path element (either slash), without its extension, with control
// and format characters removed. It is only ever used in headers and links,
// never to name a file on disk. Empty or unusable names give "audio".
func downloadStem(clientName string) string {
	name := clientName
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimSuffix(name, path.Ext(name))
	var b strings.Builder
	n := 0
	for _, r := range name {
		if n == maxNameRunes {
			break
		}
		switch {
		case r == utf8.RuneError, unicode.IsControl(r), unicode.Is(unicode.Cf, r), r == '"', r == '\\':
			continue
		case unicode.IsSpace(r):
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	stem := strings.Trim(b.String(), " .")
	if stem == "" {
		return "audio"
	}
	return stem
}

// asciiName keeps [A-Za-z0-9._-] and turns everything else into '_': the
// name used in result links and in the plain filename= parameter.
func asciiName(s string) string {
	b := []byte(s)
	out := make([]byte, 0, len(b))
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
			out = append(out, c)
		default:
			if len(out) == 0 || out[len(out)-1] != '_' {
				out = append(out, '_')
			}
		}
	}
	name := strings.Trim(string(out), "._")
	if name == "" || strings.HasPrefix(name, ".") {
		return "audio"
	}
	return name
}

// downloadNames returns the display name of a result (for filename*) and its
// ASCII form (for the link and filename=).
func downloadNames(clientName string, f extract.Format) (display, ascii string) {
	stem := downloadStem(clientName)
	return stem + f.Extension(), asciiName(stem) + f.Extension()
}

// contentDisposition builds an RFC 6266 attachment header with an ASCII
// fallback filename and an RFC 8187 UTF-8 filename*.
func contentDisposition(display, ascii string) string {
	var b strings.Builder
	b.WriteString(`attachment; filename="`)
	b.WriteString(asciiName(ascii))
	b.WriteString(`"; filename*=UTF-8''`)
	for _, c := range []byte(strings.ToValidUTF8(display, "")) {
		if isAttrChar(c) {
			b.WriteByte(c)
			continue
		}
		const hex = "0123456789ABCDEF"
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// isAttrChar reports RFC 8187 attr-char.
func isAttrChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}

// validJobID reports whether s has the shape of a job id: 22 characters of
// base64url, as a 128-bit random id encodes.
func validJobID(s string) bool {
	if len(s) != 22 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
