package extract

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/testmedia"
)

// plainSeeker is an io.ReadSeeker with no Size method: the adapter must
// find the size by seeking to the end, and put the position back.
type plainSeeker struct {
	r    *bytes.Reader
	ends int
}

func (p *plainSeeker) Read(b []byte) (int, error) { return p.r.Read(b) }

func (p *plainSeeker) Seek(off int64, whence int) (int64, error) {
	if whence == io.SeekEnd {
		p.ends++
	}
	return p.r.Seek(off, whence)
}

// TestIndexAtEndSizeQuery (reliability B3): an MP4 whose index sits at the
// end makes the demuxer ask for the input's size (AVSEEK_SIZE); the read
// adapter answers it with the true size, learned once from the reader.
func TestIndexAtEndSizeQuery(t *testing.T) {
	src := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 2})
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	ps := &plainSeeker{r: bytes.NewReader(b)}
	in, err := openInput(context.Background(), source{r: ps}, Limits{}.withDefaults(), nil)
	require.NoError(t, err)
	defer in.close()
	assert.Equal(t, int64(len(b)), in.rd.size, "the size query was answered with the true size")
	assert.Equal(t, 1, ps.ends, "the size is learned once")
	n, err := in.rd.seek(0, avseekSize|avseekForce)
	require.NoError(t, err)
	assert.Equal(t, int64(len(b)), n)
}
