package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Signed result links: /results/{job_id}/{name}?exp=<unix seconds>&sig=<mac>
// where mac = HMAC-SHA256(key, path "\n" exp), base64url without padding. A
// link that never expires (a persistent result) has no exp and signs the
// empty string in its place, so dropping exp from an expiring link breaks
// its signature.

var (
	errLinkInvalid = errors.New("invalid link signature")
	errLinkExpired = errors.New("link expired")
)

// MinSigningKeyLen is the shortest accepted HMAC key.
const MinSigningKeyLen = 32

type signer struct {
	key []byte
}

func newSigner(key []byte) (*signer, error) {
	if len(key) < MinSigningKeyLen {
		return nil, fmt.Errorf("httpapi: signing key of %d bytes, want at least %d", len(key), MinSigningKeyLen)
	}
	return &signer{key: append([]byte(nil), key...)}, nil
}

func (s *signer) mac(path, exp string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(path))
	m.Write([]byte{'\n'})
	m.Write([]byte(exp))
	return m.Sum(nil)
}

// expString is the canonical exp of a link: unix seconds, or "" for never.
func expString(exp time.Time) string {
	if exp.IsZero() {
		return ""
	}
	return strconv.FormatInt(exp.Unix(), 10)
}

// sign returns the query of a link to path valid until exp (zero: forever).
func (s *signer) sign(path string, exp time.Time) url.Values {
	e := expString(exp)
	q := url.Values{}
	if e != "" {
		q.Set("exp", e)
	}
	q.Set("sig", base64.RawURLEncoding.EncodeToString(s.mac(path, e)))
	return q
}

// verify checks a link: errLinkInvalid unless sig is the MAC of (path, exp),
// errLinkExpired when it is but now is past exp. The signature is checked
// first, so a forged exp cannot even learn whether the link expired.
func (s *signer) verify(path, exp, sig string, now time.Time) error {
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return errLinkInvalid
	}
	if !hmac.Equal(got, s.mac(path, exp)) {
		return errLinkInvalid
	}
	if exp == "" {
		return nil
	}
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		// Only canonical values are ever signed; unreachable without the key.
		return errLinkInvalid
	}
	if now.Unix() > n {
		return errLinkExpired
	}
	return nil
}

// loadOrCreateKey reads the signing key kept in dir, creating a random one on
// first use so links survive restarts.
func loadOrCreateKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, "signing.key")
	key, err := os.ReadFile(path)
	if err == nil {
		if len(key) < MinSigningKeyLen {
			return nil, fmt.Errorf("httpapi: %s holds %d bytes, want at least %d", path, len(key), MinSigningKeyLen)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("httpapi: read signing key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("httpapi: signing key dir: %w", err)
	}
	key = make([]byte, 32)
	rand.Read(key)
	tmp, err := os.CreateTemp(dir, ".signing.key-*")
	if err != nil {
		return nil, fmt.Errorf("httpapi: write signing key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(key); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("httpapi: write signing key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("httpapi: write signing key: %w", err)
	}
	// Link, not rename: if another process created the key meanwhile, its
	// key wins and both agree.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("httpapi: write signing key: %w", err)
	}
	return os.ReadFile(path)
}
