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
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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

	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	stop bool
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &S3{
		Endpoint:  "http://" + addr,
		AccessKey: "audextest",
		SecretKey: "audextest-secret-key",
		Region:    "us-east-1",
		Dir:       t.TempDir(),
		done:      make(chan struct{}),
	}
	logf, err := os.Create(filepath.Join(t.TempDir(), "versitygw.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(bin, "--port", addr, "--access", s.AccessKey, "--secret", s.SecretKey,
		"--region", s.Region, "--quiet", "posix", s.Dir)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("testsvc: start versitygw: %w", err)
	}
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.Stop)
	// Ready once it accepts connections: poll, bounded.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("testsvc: versitygw exited before it was ready: %s\n%s", s.cmd.ProcessState, log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, errors.New("testsvc: versitygw not listening after 30 s")
		}
	}
}

// Stop kills the server, by its process id, and waits for it to exit. It
// may be called more than once (tests stop a server mid-way to see what a
// failing store does).
func (s *S3) Stop() {
	s.mu.Lock()
	if !s.stop {
		s.stop = true
		s.cmd.Process.Kill()
	}
	s.mu.Unlock()
	<-s.done
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
