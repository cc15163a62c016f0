package jobs

import (
	"crypto/rand"
	"encoding/base64"
)

// idLen is the length of a job ID: 16 random bytes in unpadded base64url.
const idLen = 22

// newID returns 128 random bits as an ID. IDs never start with '-', so a
// command line can take one as an argument without it reading as a flag
// (one random ID in 64 would): such draws are simply redrawn.
func newID() string {
	for {
		var b [16]byte
		rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
		if id := base64.RawURLEncoding.EncodeToString(b[:]); id[0] != '-' {
			return id
		}
	}
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
