package extract

import (
	"fmt"
	"testing"

	"github.com/asticode/go-astiav"
	"github.com/stretchr/testify/assert"
)

// TestClassOf: FFmpeg's errors for what it lacks are unsupported input
// whatever the step would otherwise call them; the others keep their class.
func TestClassOf(t *testing.T) {
	t.Parallel()
	for _, e := range ffmpegLimits {
		assert.Equal(t, ErrUnsupportedInput, classOf(fmt.Errorf("step: %w", e), ErrInvalidInput), "%v", e)
	}
	assert.Equal(t, ErrInvalidInput, classOf(astiav.ErrInvaliddata, ErrInvalidInput))
	assert.Equal(t, ErrInvalidInput, classOf(astiav.ErrEof, ErrInvalidInput))
}
