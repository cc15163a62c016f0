package jobs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/audex/audex/extract"
)

// TestStoredRecordsLoad reads records as version 1 wrote them (the format
// from before stored records had types of their own, committed in
// testdata), checks every field survives, that each written back reads
// the same, and that the queued one still runs on a manager opened on
// them.
func TestStoredRecordsLoad(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/records-v1.json")
	require.NoError(t, err)
	var raw []json.RawMessage
	require.NoError(t, json.Unmarshal(data, &raw))
	require.Len(t, raw, 3)
	var rs []*record
	for _, b := range raw {
		r, err := decodeRecord(b)
		require.NoError(t, err)
		rs = append(rs, r)
	}

	queued, done, failed := rs[0], rs[1], rs[2]
	assert.Equal(t, StateQueued, queued.State)
	assert.Equal(t, extract.Options{
		Format: extract.WAV, Start: 250 * time.Millisecond, Duration: 1500 * time.Millisecond,
		Track: 1, Language: "eng", SampleRate: 22050, Channels: 1, Copy: extract.CopyNever,
		Limits: extract.Limits{MaxStreams: 50, MaxOutputDuration: time.Hour},
	}, queued.Request.Options)
	assert.Equal(t, Request{Options: queued.Request.Options, Retention: 10 * time.Minute, Owner: "alice", Name: "talk.mp4", Notify: "https://example.com/hook"}, queued.Request)
	assert.Equal(t, int64(1234), queued.InputBytes)
	assert.True(t, queued.HaveInput)

	require.NotNil(t, done.Result)
	require.NotNil(t, done.Result.Extract)
	assert.Equal(t, extract.MP3, done.Result.Format)
	assert.Equal(t, int64(4321), done.Result.Size)
	assert.Equal(t, 1105, done.Result.Extract.EncoderDelay)
	assert.True(t, done.Result.Extract.Truncated)
	assert.Equal(t, extract.AudioTrack{Index: 1, Codec: "aac", Profile: "LC", SampleRate: 48000, Channels: 2, ChannelLayout: "stereo",
		Bitrate: 128000, Language: "und", Title: "main", Duration: 10 * time.Second, Default: true}, done.Result.Extract.Input)
	require.NotNil(t, done.Notice)
	assert.Equal(t, NotificationDelivered, done.Notice.State)
	assert.Equal(t, "200 OK", done.Notice.LastResult)

	assert.Equal(t, StateFailed, failed.State)
	assert.Equal(t, &Error{Code: CodeNoAudio, Message: "no audio stream"}, failed.Error)
	assert.Equal(t, 1, failed.Crashes)
	assert.True(t, failed.Request.Persistent)
	assert.Equal(t, "https://example.com/v.mp4", failed.Request.URL)

	// Written back, each reads the same, now with its version.
	for _, r := range rs {
		b, err := encodeRecord(r)
		require.NoError(t, err)
		assert.Contains(t, string(b), `"v":1,`)
		again, err := decodeRecord(b)
		require.NoError(t, err)
		assert.Equal(t, r, again)
	}
	_, err = decodeRecord([]byte(`{"v":2,"id":"x"}`))
	assert.ErrorContains(t, err, "version 2")

	// A data directory holding the old records, byte for byte: the queued
	// job runs, the others read as they were.
	b := setup(t, nil)
	b.m.Close()
	db, err := bolt.Open(b.path(storeFile), 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		for i, r := range rs {
			if err := tx.Bucket(bucketJobs).Put([]byte(r.ID), raw[i]); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketQueue).Put(seqKey(queued.Seq), []byte(queued.ID))
	}))
	require.NoError(t, db.Close())
	require.NoError(t, os.WriteFile(b.path(inputsDir, queued.ID), []byte("ok"), 0o600))
	require.NoError(t, os.MkdirAll(b.path(resultsDir, done.ID), dirPerm))
	require.NoError(t, os.WriteFile(b.path(resultsDir, done.ID, "audio.mp3"), []byte("mp3"), 0o600))
	b.clock.Set(time.Date(2026, 12, 1, 20, 5, 0, 0, time.UTC))
	b.start()
	j := b.wait(queued.ID)
	require.Equal(t, StateSucceeded, j.State, "%+v", j.Error)
	assert.Equal(t, queued.Request.Options, j.Request.Options)
	assert.Equal(t, extract.WAV, j.Result.Format)
	assert.FileExists(t, filepath.Join(b.cfg.Dir, resultsDir, queued.ID, "audio.wav"))
	j, err = b.m.Get(done.ID)
	require.NoError(t, err)
	assert.Equal(t, StateSucceeded, j.State)
	assert.Equal(t, done.Result.Extract, j.Result.Extract)
	j, err = b.m.Get(failed.ID)
	require.NoError(t, err)
	assert.Equal(t, CodeNoAudio, j.Error.Code)
}
