package httpapi

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// TokenHeader is the hosted API's credential header.
const TokenHeader = "apy-token"

// Credential is one accepted secret and the owner it authenticates as. Jobs
// belong to the owner: a credential sees only its owner's jobs. Several
// credentials may share an owner.
type Credential struct {
	// Owner is the stable id the credential authenticates as. Empty means an
	// id derived from the secret's hash ("token-…" or "basic-<user>").
	Owner string
	// Token is an apy-token value. Set Token, TokenSHA256, User+Password or
	// User+BasicSHA256.
	Token string
	// TokenSHA256 is the SHA-256 of a token, so configuration need not hold
	// the secret itself.
	TokenSHA256 [32]byte
	// User and Password are HTTP Basic credentials.
	User, Password string
	// BasicSHA256 is the SHA-256 of "user:password".
	BasicSHA256 [32]byte
}

// ErrBadCredentials marks a malformed credentials configuration.
var ErrBadCredentials = errors.New("httpapi: bad credentials configuration")

// ParseCredentials reads credentials, one per line:
//
//	# comment
//	<owner> token <token>
//	<owner> token-sha256 <64 hex digits: SHA-256 of the token>
//	<owner> basic <user>:<password>
//	<owner> basic-sha256 <user> <64 hex digits: SHA-256 of "user:password">
//	<token>
//
// A line holding one word is a token whose owner id is derived from its hash.
// Semicolons also end a line, so one environment variable can hold several.
func ParseCredentials(r io.Reader) ([]Credential, error) {
	var out []Credential
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		for entry := range strings.SplitSeq(sc.Text(), ";") {
			if i := strings.IndexByte(entry, '#'); i >= 0 && (i == 0 || entry[i-1] == ' ' || entry[i-1] == '\t') {
				entry = entry[:i]
			}
			f := strings.Fields(entry)
			if len(f) == 0 {
				continue
			}
			c, err := credentialFromFields(f)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: %v", ErrBadCredentials, lineNo, err)
			}
			out = append(out, c)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCredentials, err)
	}
	return out, nil
}

// LoadCredentialsFile reads a ParseCredentials file.
func LoadCredentialsFile(path string) ([]Credential, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("httpapi: credentials: %w", err)
	}
	defer f.Close()
	return ParseCredentials(f)
}

func credentialFromFields(f []string) (Credential, error) {
	if len(f) == 1 {
		return Credential{Token: f[0]}, nil
	}
	if len(f) < 3 {
		return Credential{}, errors.New("want <owner> <kind> <secret>")
	}
	c := Credential{Owner: f[0]}
	kind, args := f[1], f[2:]
	switch {
	case kind == "token" && len(args) == 1:
		c.Token = args[0]
	case kind == "token-sha256" && len(args) == 1:
		h, err := parseHash(args[0])
		if err != nil {
			return c, err
		}
		c.TokenSHA256 = h
	case kind == "basic" && len(args) == 1:
		user, pass, ok := strings.Cut(args[0], ":")
		if !ok {
			return c, errors.New("basic wants <user>:<password>")
		}
		c.User, c.Password = user, pass
	case kind == "basic-sha256" && len(args) == 2:
		h, err := parseHash(args[1])
		if err != nil {
			return c, err
		}
		c.User, c.BasicSHA256 = args[0], h
	default:
		return c, fmt.Errorf("unknown credential kind %q or wrong number of fields", kind)
	}
	return c, nil
}

func parseHash(s string) ([32]byte, error) {
	var h [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, errors.New("want 64 hex digits of SHA-256")
	}
	copy(h[:], b)
	return h, nil
}

type authEntry struct {
	hash  [32]byte
	owner string
}

// authenticator checks requests against configured credentials. It keeps only
// SHA-256 hashes of the secrets and compares hashes in constant time, so
// neither the comparison's timing nor memory reveals a secret.
type authenticator struct {
	tokens []authEntry
	basics []authEntry
}

func newAuthenticator(creds []Credential) (*authenticator, error) {
	a := &authenticator{}
	var zero [32]byte
	for i, c := range creds {
		switch {
		case c.Token != "" || c.TokenSHA256 != zero:
			if c.User != "" || c.Password != "" || c.BasicSHA256 != zero {
				return nil, fmt.Errorf("%w: credential %d mixes token and basic", ErrBadCredentials, i)
			}
			h := c.TokenSHA256
			if c.Token != "" {
				h = sha256.Sum256([]byte(c.Token))
			}
			owner := c.Owner
			if owner == "" {
				owner = "token-" + hex.EncodeToString(h[:6])
			}
			a.tokens = append(a.tokens, authEntry{h, owner})
		case c.User != "":
			if strings.ContainsAny(c.User, ":\x00") {
				return nil, fmt.Errorf("%w: credential %d: user name with ':'", ErrBadCredentials, i)
			}
			h := c.BasicSHA256
			switch {
			case c.Password != "" && h != zero:
				return nil, fmt.Errorf("%w: credential %d has both a password and its hash", ErrBadCredentials, i)
			case c.Password != "":
				h = sha256.Sum256([]byte(c.User + ":" + c.Password))
			case h == zero:
				return nil, fmt.Errorf("%w: credential %d: empty password", ErrBadCredentials, i)
			}
			owner := c.Owner
			if owner == "" {
				owner = "basic-" + c.User
			}
			a.basics = append(a.basics, authEntry{h, owner})
		default:
			return nil, fmt.Errorf("%w: credential %d has no secret", ErrBadCredentials, i)
		}
	}
	return a, nil
}

// maxCredentialLen bounds how much of a header is hashed; longer values are
// rejected (after the same work as any other rejection).
const maxCredentialLen = 4096

// authenticate returns the owner a request's credential belongs to. The
// apy-token header wins when present; otherwise HTTP Basic is read. Every
// failure takes the same path: hash, compare against every entry, report no.
func (a *authenticator) authenticate(h http.Header) (string, bool) {
	list, secret := a.tokens, ""
	if vals := h.Values(TokenHeader); len(vals) > 0 {
		if len(vals) == 1 {
			secret = vals[0]
		}
	} else if user, pass, ok := parseBasic(h.Get("Authorization")); ok {
		list, secret = a.basics, user+":"+pass
	}
	return match(list, secret)
}

func match(list []authEntry, secret string) (string, bool) {
	ok := secret != "" && len(secret) <= maxCredentialLen
	sum := sha256.Sum256([]byte(secret))
	found, owner := 0, ""
	for _, e := range list {
		if subtle.ConstantTimeCompare(sum[:], e.hash[:]) == 1 {
			found, owner = 1, e.owner
		}
	}
	if !ok || found == 0 {
		return "", false
	}
	return owner, true
}

// parseBasic reads "Basic <base64(user:password)>"; the scheme is matched
// case-insensitively (RFC 9110 §11.1), padding is required.
func parseBasic(v string) (user, pass string, ok bool) {
	scheme, payload, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	b, err := base64.StdEncoding.Strict().DecodeString(strings.TrimLeft(payload, " "))
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(b), ":")
	if !ok || user == "" {
		return "", "", false
	}
	return user, pass, true
}
