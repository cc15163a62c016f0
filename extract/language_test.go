package extract

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLangMatch(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		have, want string
		match      bool
	}{
		{"fre", "fra", true}, {"fre", "fre", true}, {"fre", "fr", true}, {"fre", "FR", true},
		{"fra", "fre", true}, {"fra", "fr", true},
		{"ger", "deu", true}, {"ger", "de", true}, {"deu", "ger", true},
		{"chi", "zh", true}, {"dut", "nl", true}, {"gre", "ell", true}, {"cze", "cs", true},
		{"spa", "es", true}, {"jpn", "ja", true}, {"swe", "sv", true}, {"eng", "en", true},
		{"fr-CA", "fre", true}, {"pt_BR", "por", true},
		{"qaa", "qaa", true}, // reserved for local use: compared as it is
		{"eng", "fr", false}, {"fre", "ger", false}, {"enm", "en", false}, {"frm", "fr", false},
		{"", "en", false}, {"", "", false},
	} {
		assert.Equal(t, c.match, langMatch(c.have, c.want), "%q vs %q", c.have, c.want)
	}
	assert.Len(t, iso639T, 184+20)
	for code, term := range iso639T {
		assert.Len(t, term, 3, code)
		_, chained := iso639T[term]
		assert.False(t, chained, "%s -> %s is itself mapped", code, term)
	}
}
