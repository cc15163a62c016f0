package jobs

import (
	"context"
	"time"
)

// Presigner is a Blob that a client may read straight from the store,
// through a URL that carries its own short-lived authorization (an S3
// presigned GET), so that a server hands out the URL instead of sending the
// bytes itself. The blobs of internal/s3blobs are Presigners; those of the
// disk (NewDiskBlobs) are not, and a server streams them. A server learns
// which with a type assertion on what Manager.OpenResult returned.
type Presigner interface {
	Blob
	// Presign returns a URL from which an HTTP GET (with Range, if wanted)
	// reads the blob for ttl and no longer, its answers carrying h in place
	// of the store's own headers. The URL holds a signature: it is a
	// capability, as a result link is.
	Presign(ctx context.Context, ttl time.Duration, h PresignHeaders) (string, error)
}

// PresignHeaders are the headers a presigned URL's answers carry.
type PresignHeaders struct {
	ContentType        string
	ContentDisposition string
	CacheControl       string
}
