package jobs

import (
	"crypto/rand"
	"encoding/base64"
)

// idLen is the length of a job ID: 16 random bytes in unpadded base64url.
const idLen = 22

func newID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validID reports whether s has the shape of a job ID (^[A-Za-z0-9_-]{22}$),
// so that nothing else is ever looked up or joined into a path.
func validID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
