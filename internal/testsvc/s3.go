// Package testsvc starts real services for tests, on loopback: an
// S3-compatible server (versitygw, built once into a cache outside the
// clone, its posix backend on a temporary directory) and PostgreSQL 15
// (Debian's server binaries, a throw-away cluster in a temporary
// directory). Each server belongs to the test that started it and is
// stopped, by its process id, when that test ends. No Docker, nothing left
// running.
package testsvc

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3 is a running S3-compatible server.
type S3 struct {
	// Endpoint is its base URL, http://127.0.0.1:<port>.
	Endpoint string
	// AccessKey and SecretKey are its root credentials.
	AccessKey, SecretKey string
	// Region it signs for.
	Region string
	// Dir is its posix backend's root: a bucket is a directory in it.
	Dir string

	*process
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// versitygw returns the path of the versitygw binary, building it (once per
// machine, about a minute) with install-versitygw.sh.
func versitygw() (string, error) {
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(file), "install-versitygw.sh")
		var stderr bytes.Buffer
		cmd := exec.Command("bash", script)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			buildErr = fmt.Errorf("testsvc: building versitygw: %w\n%s", err, stderr.Bytes())
			return
		}
		buildPath = strings.TrimSpace(string(out))
	})
	return buildPath, buildErr
}

// StartS3 starts an S3 server for t, stopped when t ends. Where versitygw
// cannot be built for lack of network, the test is skipped with the reason,
// except in CI (CI=true), where it fails.
func StartS3(t testing.TB) *S3 {
	t.Helper()
	bin, err := versitygw()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("no S3 server for this test (run internal/testsvc/install-versitygw.sh with network to the Go module proxy): %v", err)
	}
	var s *S3
	// The free port is found by binding it and letting it go; another
	// process may take it in between, so try a few.
	for range 3 {
		if s, err = startS3(t, bin); err == nil {
			return s
		}
	}
	t.Fatal(err)
	return nil
}

func startS3(t testing.TB, bin string) (*S3, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s := &S3{
		Endpoint:  "http://" + addr,
		AccessKey: "audextest",
		SecretKey: "audextest-secret-key",
		Region:    "us-east-1",
		Dir:       t.TempDir(),
	}
	cmd := exec.Command(bin, "--port", addr, "--access", s.AccessKey, "--secret", s.SecretKey,
		"--region", s.Region, "--quiet", "posix", s.Dir)
	// Ready once it accepts connections.
	s.process, err = start("versitygw", cmd, filepath.Join(t.TempDir(), "versitygw.log"), nil, 30*time.Second, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	t.Cleanup(s.Stop)
	return s, nil
}

var buckets atomic.Int64

// NewBucket makes a new, empty bucket on the server and returns its name.
// (versitygw's posix backend keeps a bucket's owner in an extended
// attribute of its directory: buckets are made through the S3 API.)
func (s *S3) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("audex-%d-%d", os.Getpid(), buckets.Add(1))
	c := s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       s.Region,
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey}, nil
		}),
	})
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("testsvc: create bucket %s: %v", name, err)
	}
	return name
}

// Env is the environment that gives the server's credentials to a client
// (the standard AWS_* variables).
func (s *S3) Env() map[string]string {
	return map[string]string{"AWS_ACCESS_KEY_ID": s.AccessKey, "AWS_SECRET_ACCESS_KEY": s.SecretKey, "AWS_REGION": s.Region}
}

// URL is the --blobs URL of a bucket (and key prefix) on the server.
func (s *S3) URL(bucket, prefix string) string {
	return "s3://" + bucket + "/" + prefix + "?endpoint=" + s.Endpoint + "&region=" + s.Region
}
