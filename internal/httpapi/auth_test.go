package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func basicHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func testAuthenticator(t testing.TB) *authenticator {
	t.Helper()
	sum := sha256.Sum256([]byte("hashed-token"))
	bsum := sha256.Sum256([]byte("dave:pw:with:colons"))
	creds, err := ParseCredentials(strings.NewReader(fmt.Sprintf(`
# owners and secrets
alice token tok-alice
bob   basic bob:hunter2 ; carol token-sha256 %s
dave  basic-sha256 dave %s   # hashed basic
bare-token
alice basic al:second-credential-same-owner
`, hex.EncodeToString(sum[:]), hex.EncodeToString(bsum[:]))))
	require.NoError(t, err)
	require.Len(t, creds, 6)
	a, err := newAuthenticator(creds)
	require.NoError(t, err)
	return a
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	a := testAuthenticator(t)
	bareSum := sha256.Sum256([]byte("bare-token"))
	good := []struct {
		h     http.Header
		owner string
	}{
		{http.Header{"Apy-Token": {"tok-alice"}}, "alice"},
		{http.Header{"Apy-Token": {"hashed-token"}}, "carol"},
		{http.Header{"Apy-Token": {"bare-token"}}, "token-" + hex.EncodeToString(bareSum[:6])},
		{http.Header{"Authorization": {basicHeader("bob", "hunter2")}}, "bob"},
		{http.Header{"Authorization": {"basic " + basicHeader("bob", "hunter2")[6:]}}, "bob"},
		{http.Header{"Authorization": {basicHeader("dave", "pw:with:colons")}}, "dave"},
		{http.Header{"Authorization": {basicHeader("al", "second-credential-same-owner")}}, "alice"},
	}
	for _, g := range good {
		owner, ok := a.authenticate(g.h)
		assert.True(t, ok, g.h)
		assert.Equal(t, g.owner, owner)
	}

	bad := []http.Header{
		{},
		{"Apy-Token": {""}},
		{"Apy-Token": {"tok-alic"}},
		{"Apy-Token": {"tok-alice "}},
		{"Apy-Token": {"TOK-ALICE"}},
		{"Apy-Token": {"tok-alice", "tok-alice"}},
		{"Apy-Token": {strings.Repeat("x", 10<<10)}},
		// A token is not accepted as a Basic password, nor Basic as a token.
		{"Authorization": {basicHeader("alice", "tok-alice")}},
		{"Apy-Token": {"bob:hunter2"}},
		// The token header wins: a good Basic does not rescue a bad token.
		{"Apy-Token": {"nope"}, "Authorization": {basicHeader("bob", "hunter2")}},
		{"Authorization": {basicHeader("bob", "wrong")}},
		{"Authorization": {basicHeader("bob", "")}},
		{"Authorization": {basicHeader("", "hunter2")}},
		{"Authorization": {"Bearer tok-alice"}},
		{"Authorization": {"Basic"}},
		{"Authorization": {"Basic !!!"}},
		{"Authorization": {"Basic " + base64.RawStdEncoding.EncodeToString([]byte("bob:hunter2x"))}},
		{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("bob"))}},
		// The stored hash itself is not a credential.
		{"Apy-Token": {hex.EncodeToString(func() []byte { s := sha256.Sum256([]byte("hashed-token")); return s[:] }())}},
	}
	for _, h := range bad {
		owner, ok := a.authenticate(h)
		assert.False(t, ok, "%v", h)
		assert.Empty(t, owner)
	}
}

func TestAuthenticatorKeepsOnlyHashes(t *testing.T) {
	t.Parallel()
	a := testAuthenticator(t)
	dump := fmt.Sprintf("%+v", *a)
	for _, secret := range []string{"tok-alice", "hunter2", "bare-token"} {
		assert.NotContains(t, dump, secret)
	}
	// match hashes the presented secret before comparing: a configured hash
	// accepts its preimage and nothing else.
	sum := sha256.Sum256([]byte("s3cret"))
	list := []authEntry{{hash: sum, owner: "o"}}
	owner, ok := match(list, "s3cret")
	assert.True(t, ok)
	assert.Equal(t, "o", owner)
	_, ok = match(list, string(sum[:]))
	assert.False(t, ok)
	_, ok = match(list, "")
	assert.False(t, ok)
}

func TestParseCredentialsErrors(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		"alice token", "alice token a b", "alice basic nocolon", "alice token-sha256 xyz",
		"alice basic-sha256 u 00", "alice weird secret",
	} {
		_, err := ParseCredentials(strings.NewReader(text))
		assert.ErrorIs(t, err, ErrBadCredentials, text)
	}
	for _, creds := range [][]Credential{
		{{Owner: "x"}},
		{{Token: "t", User: "u", Password: "p"}},
		{{User: "u:v", Password: "p"}},
		{{User: "u"}},
		{{User: "u", Password: "p", BasicSHA256: sha256.Sum256([]byte("u:p"))}},
	} {
		_, err := newAuthenticator(creds)
		assert.ErrorIs(t, err, ErrBadCredentials, "%+v", creds)
	}
}

func FuzzAuthHeader(f *testing.F) {
	a := testAuthenticator(f)
	f.Add("Basic "+base64.StdEncoding.EncodeToString([]byte("bob:hunter2")), "")
	f.Add("basic "+base64.StdEncoding.EncodeToString([]byte("bob:hunter")), "")
	f.Add("", "tok-alice")
	f.Add("", "tok-alice\x00")
	f.Add("Basic Ym9iOmh1bnRlcjI", "")
	f.Add("Basic  Ym9iOmh1bnRlcjI=", "")
	f.Fuzz(func(t *testing.T, authorization, token string) {
		h := http.Header{}
		if authorization != "" {
			h.Set("Authorization", authorization)
		}
		if token != "" {
			h.Set(TokenHeader, token)
		}
		owner, ok := a.authenticate(h)
		if !ok {
			require.Empty(t, owner)
			return
		}
		// Accepted only for a configured credential, and for the right owner.
		if token != "" {
			want := map[string]string{"tok-alice": "alice", "hashed-token": "carol", "bare-token": "token-" + func() string {
				s := sha256.Sum256([]byte("bare-token"))
				return hex.EncodeToString(s[:6])
			}()}
			require.Equal(t, want[token], owner, "token %q", token)
			return
		}
		user, pass, okb := parseBasic(authorization)
		require.True(t, okb)
		want := map[string]string{"bob:hunter2": "bob", "dave:pw:with:colons": "dave", "al:second-credential-same-owner": "alice"}
		require.Equal(t, want[user+":"+pass], owner, "basic %q", user+":"+pass)
	})
}
