package jobs_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/audex/audex/jobs"
	"github.com/audex/audex/jobs/blobtest"
)

// TestDiskBlobs runs the blob conformance suite on the local disk's Blobs.
func TestDiskBlobs(t *testing.T) {
	t.Parallel()
	blobtest.Run(t, func(t *testing.T) jobs.Blobs {
		b, err := jobs.NewDiskBlobs(t.TempDir())
		require.NoError(t, err)
		return b
	})
}
