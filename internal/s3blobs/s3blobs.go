// Package s3blobs keeps the job manager's blobs (jobs.Blobs: inputs and
// results) in a bucket of any S3-compatible store, through aws-sdk-go-v2:
// the storage every node of a multi-node deployment reaches.
//
//	b, err := s3blobs.New("s3://bucket/prefix?endpoint=http://127.0.0.1:7070&region=us-east-1", os.Getenv)
//
// Credentials come from the standard variables AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; the region from the URL's
// region parameter, else AWS_REGION or AWS_DEFAULT_REGION, else us-east-1.
// With an endpoint (any S3-compatible server), requests use path-style
// addressing (http://host/bucket/key); without one, AWS's.
//
// Put uploads from the local file, which is seekable: the request is
// signed over its content and retried from its start, which a stream could
// not be over plain http. A blob read with seeking fetches from its
// position on with ranged GETs of up to 8 MiB, conditional on the ETag it
// was opened with, so a reader never mixes two contents. Failures to reach the store
// wrap jobs.ErrUnavailable; a missing key is fs.ErrNotExist.
//
// An open blob is a jobs.Presigner: it hands out presigned GET URLs (at
// most 7 days, SigV4's limit) on the endpoint the store was given, so
// clients that follow them must reach that endpoint too.
package s3blobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/audex/audex/jobs"
)

// New returns the Blobs of the bucket and key prefix that rawURL names:
// s3://bucket[/prefix][?endpoint=http://host:port][&region=name]. getenv
// reads the credentials (os.Getenv, or a test's own).
func New(rawURL string, getenv func(string) string) (jobs.Blobs, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("s3blobs: %q: want s3://bucket[/prefix][?endpoint=URL&region=NAME]", rawURL)
	}
	q := u.Query()
	for k := range q {
		if k != "endpoint" && k != "region" {
			return nil, fmt.Errorf("s3blobs: %q: unknown parameter %q", rawURL, k)
		}
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	region := q.Get("region")
	for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if region == "" {
			region = getenv(v)
		}
	}
	if region == "" {
		region = "us-east-1"
	}
	creds := aws.Credentials{
		AccessKeyID:     getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    getenv("AWS_SESSION_TOKEN"),
		Source:          "environment",
	}
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return nil, errors.New("s3blobs: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	opts := s3.Options{
		Region:      region,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
		// Checksums only where the API requires them: many S3-compatible
		// servers refuse the SDK's newer trailing checksums.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if ep := q.Get("endpoint"); ep != "" {
		e, err := url.Parse(ep)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return nil, fmt.Errorf("s3blobs: endpoint %q: want http(s)://host[:port]", ep)
		}
		opts.BaseEndpoint = aws.String(ep)
		opts.UsePathStyle = true
	}
	c := s3.New(opts)
	return &store{c: c, presign: s3.NewPresignClient(c), bucket: u.Host, prefix: prefix, window: defaultWindow}, nil
}

// defaultWindow is the most one GET of a reader asks for. A reader cannot
// know how much of the rest its caller will read (http.ServeContent reads
// a range's length and stops): a bounded window bounds what the store
// sends in vain, at the cost of a request per window on long reads.
const defaultWindow = 8 << 20

type store struct {
	c       *s3.Client
	presign *s3.PresignClient
	bucket  string
	prefix  string
	window  int64
}

// fail maps an SDK error: a 404 is fs.ErrNotExist, anything else means the
// store could not do it (jobs.ErrUnavailable).
func fail(op, key string, err error) error {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() == 404 {
		return fmt.Errorf("s3blobs: %s %s: %w", op, key, fs.ErrNotExist)
	}
	return fmt.Errorf("%w: s3blobs: %s %s: %w", jobs.ErrUnavailable, op, key, err)
}

func (s *store) Put(ctx context.Context, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("s3blobs: put %s: %w", key, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("s3blobs: put %s: %w", key, err)
	}
	_, err = s.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.prefix + key),
		Body:          f,
		ContentLength: aws.Int64(fi.Size()),
	})
	if err != nil {
		return fail("put", key, err)
	}
	return nil
}

func (s *store) Stat(ctx context.Context, key string) (jobs.BlobInfo, error) {
	h, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if err != nil {
		return jobs.BlobInfo{}, fail("stat", key, err)
	}
	return jobs.BlobInfo{Key: key, Size: aws.ToInt64(h.ContentLength), ETag: aws.ToString(h.ETag), ModTime: aws.ToTime(h.LastModified)}, nil
}

func (s *store) Open(ctx context.Context, key string) (jobs.Blob, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	return &object{s: s, info: info}, nil
}

func (s *store) Delete(ctx context.Context, key string) error {
	_, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if err != nil {
		if err = fail("delete", key, err); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return nil
}

func (s *store) List(ctx context.Context, prefix string) ([]jobs.BlobInfo, error) {
	var out []jobs.BlobInfo
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix + prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fail("list", prefix, err)
		}
		for _, o := range page.Contents {
			k := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			out = append(out, jobs.BlobInfo{Key: k, Size: aws.ToInt64(o.Size), ETag: aws.ToString(o.ETag), ModTime: aws.ToTime(o.LastModified)})
		}
	}
	return out, nil
}

// object reads a blob from its position on with ranged GETs of up to a
// window each, the first opened at the first Read after a Seek.
type object struct {
	s    *store
	info jobs.BlobInfo

	mu     sync.Mutex
	pos    int64
	body   io.ReadCloser
	end    int64 // where body ends (exclusive)
	closed bool
}

func (o *object) Info() jobs.BlobInfo { return o.info }

var _ jobs.Presigner = (*object)(nil)

// MaxPresign is the longest a presigned URL may last: SigV4's limit.
const MaxPresign = 7 * 24 * time.Hour

// Presign implements jobs.Presigner. A presigned URL counts whole seconds:
// ttl is rounded down to them, and must be from a second to MaxPresign
// (the SDK would take 0 for its default of 15 minutes).
func (o *object) Presign(ctx context.Context, ttl time.Duration, h jobs.PresignHeaders) (string, error) {
	ttl = ttl.Truncate(time.Second)
	if ttl < time.Second || ttl > MaxPresign {
		return "", fmt.Errorf("s3blobs: presign %s: a lifetime of %s, want 1s to %s", o.info.Key, ttl, MaxPresign)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(o.s.bucket), Key: aws.String(o.s.prefix + o.info.Key)}
	if h.ContentType != "" {
		in.ResponseContentType = aws.String(h.ContentType)
	}
	if h.ContentDisposition != "" {
		in.ResponseContentDisposition = aws.String(h.ContentDisposition)
	}
	if h.CacheControl != "" {
		in.ResponseCacheControl = aws.String(h.CacheControl)
	}
	req, err := o.s.presign.PresignGetObject(ctx, in, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("s3blobs: presign %s: %w", o.info.Key, err)
	}
	return req.URL, nil
}

func (o *object) Read(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, fs.ErrClosed
	}
	if o.pos >= o.info.Size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if o.body == nil {
		end := min(o.pos+o.s.window, o.info.Size)
		// The reader outlives the call that opened it (an HTTP response
		// streams from it): it is bound by Close, not by a context.
		g, err := o.s.c.GetObject(context.Background(), &s3.GetObjectInput{
			Bucket:  aws.String(o.s.bucket),
			Key:     aws.String(o.s.prefix + o.info.Key),
			Range:   aws.String("bytes=" + strconv.FormatInt(o.pos, 10) + "-" + strconv.FormatInt(end-1, 10)),
			IfMatch: aws.String(o.info.ETag),
		})
		if err != nil {
			return 0, fail("get", o.info.Key, err)
		}
		o.body, o.end = g.Body, end
	}
	if int64(len(p)) > o.end-o.pos {
		p = p[:o.end-o.pos]
	}
	n, err := o.body.Read(p)
	o.pos += int64(n)
	if err == nil && o.pos == o.end {
		err = io.EOF
	}
	if err == io.EOF {
		o.body.Close()
		o.body = nil
		err = nil
		if n == 0 && o.pos < o.end {
			err = fmt.Errorf("s3blobs: get %s: %w at %d of %d bytes", o.info.Key, io.ErrUnexpectedEOF, o.pos, o.info.Size)
		}
	}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		err = fail("read", o.info.Key, err)
	}
	return n, err
}

func (o *object) Seek(offset int64, whence int) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var pos int64
	switch whence {
	case io.SeekStart:
		pos = offset
	case io.SeekCurrent:
		pos = o.pos + offset
	case io.SeekEnd:
		pos = o.info.Size + offset
	default:
		return 0, fmt.Errorf("s3blobs: seek: invalid whence %d", whence)
	}
	if pos < 0 {
		return 0, fmt.Errorf("s3blobs: seek: negative position %d", pos)
	}
	if pos != o.pos && o.body != nil {
		o.body.Close()
		o.body = nil
	}
	o.pos = pos
	return pos, nil
}

func (o *object) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
	return nil
}
