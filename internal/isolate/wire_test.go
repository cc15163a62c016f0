package isolate

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
)

// TestWireRoundTrip: every field of the options and the result crosses
// the protocol, through JSON, unchanged.
func TestWireRoundTrip(t *testing.T) {
	t.Parallel()
	opts := extract.Options{
		Format: extract.OGG, Start: time.Second, Duration: 2 * time.Second, Track: 2, Language: "fra",
		SampleRate: 32000, Channels: 1, Bitrate: 96000, Copy: extract.CopyNever, Parallelism: 3,
		Limits: extract.Limits{ProbeSize: 1, AnalyzeDuration: 2, MaxStreams: 3, MaxOutputDuration: 4, MaxOutputBytes: 5,
			DecoderThreads: 6, MaxSampleRate: 7, MaxChannels: 8},
	}
	res := &extract.Result{
		Format: extract.OGG, Codec: "vorbis", SampleRate: 32000, Channels: 1, ChannelLayout: "mono", Bitrate: 96000,
		Start: time.Second, StartSample: 32000, Duration: 2 * time.Second, Samples: 64000, Bytes: 9999,
		EncoderDelay: 1, Copied: true, DecodeErrors: 2, Truncated: true,
		Input: extract.AudioTrack{Track: 2, Index: 3, Codec: "aac", Profile: "LC", SampleRate: 48000, Channels: 6,
			ChannelLayout: "5.1", Bitrate: 1, Language: "fra", Title: "t", Start: 3, Duration: 4, Default: true},
	}
	data, err := json.Marshal(request{Type: msgJob, ID: 1, Options: toWireOptions(opts)})
	require.NoError(t, err)
	var q request
	require.NoError(t, json.Unmarshal(data, &q))
	assert.Equal(t, opts, q.Options.options())

	data, err = json.Marshal(reply{Type: msgDone, ID: 1, Result: toWireResult(res)})
	require.NoError(t, err)
	var m reply
	require.NoError(t, json.Unmarshal(data, &m))
	assert.Equal(t, res, m.Result.result())
	assert.Nil(t, toWireResult(nil))
}
