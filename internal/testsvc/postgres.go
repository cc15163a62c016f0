package testsvc

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// PostgresBin is where Debian's postgresql-15 puts its server binaries;
// $AUDEX_PG_BIN overrides it.
const PostgresBin = "/usr/lib/postgresql/15/bin"

// Postgres is a running PostgreSQL server: a throw-away cluster of its own
// in a temporary directory, listening on 127.0.0.1 only, with trust
// authentication for the role audex.
type Postgres struct {
	// Port it listens on, at 127.0.0.1.
	Port int
	// Dir holds the cluster's data directory and its socket.
	Dir string

	*process
}

const pgUser = "audex"

func pgBin() string {
	if d := os.Getenv("AUDEX_PG_BIN"); d != "" {
		return d
	}
	return PostgresBin
}

// pgCred is the account the server runs as: PostgreSQL refuses to run as
// root, so root runs it as the postgres user the Debian package creates;
// anyone else runs it as themselves (nil).
func pgCred() (*syscall.Credential, error) {
	if os.Getuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("testsvc: running as root needs the postgres user (package postgresql-15): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

var (
	templateOnce sync.Once
	templateDir  string
	templateErr  error
)

// pgTemplate returns a fresh cluster's data directory that every server
// copies: initdb is most of a start's cost, so it runs once per machine,
// into the cache beside versitygw's build.
func pgTemplate() (string, error) {
	templateOnce.Do(func() {
		cache, err := cacheDir()
		if err != nil {
			templateErr = err
			return
		}
		dst := filepath.Join(cache, "pg15-template")
		if b, err := os.ReadFile(filepath.Join(dst, "PG_VERSION")); err == nil && string(bytes.TrimSpace(b)) == "15" {
			templateDir = dst
			return
		}
		cred, err := pgCred()
		if err != nil {
			templateErr = err
			return
		}
		base, err := ownedTempDir(cred, "audex-pginit-")
		if err != nil {
			templateErr = err
			return
		}
		defer os.RemoveAll(base)
		data := filepath.Join(base, "data")
		cmd := exec.Command(filepath.Join(pgBin(), "initdb"), "-D", data, "-U", pgUser, "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			templateErr = fmt.Errorf("testsvc: initdb: %w\n%s", err, out)
			return
		}
		tmp, err := os.MkdirTemp(cache, ".pg15-template-")
		if err != nil {
			templateErr = err
			return
		}
		defer os.RemoveAll(tmp)
		if out, err := exec.Command("cp", "-a", data, filepath.Join(tmp, "data")).CombinedOutput(); err != nil {
			templateErr = fmt.Errorf("testsvc: keep the cluster template: %w\n%s", err, out)
			return
		}
		// Another test process may have put its template there first:
		// then that one is used (a rename never replaces a non-empty
		// directory).
		if err := os.Rename(filepath.Join(tmp, "data"), dst); err != nil {
			if _, serr := os.Stat(filepath.Join(dst, "PG_VERSION")); serr != nil {
				templateErr = err
				return
			}
		}
		templateDir = dst
	})
	return templateDir, templateErr
}

// cacheDir is the machine's cache for test services, as
// install-versitygw.sh uses it.
func cacheDir() (string, error) {
	if d := os.Getenv("AUDEX_TESTSVC_CACHE"); d != "" {
		return d, os.MkdirAll(d, 0o755)
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		base = filepath.Join(home, ".cache")
	}
	dir := filepath.Join(base, "audex", "testsvc")
	return dir, os.MkdirAll(dir, 0o755)
}

// ownedTempDir makes a temporary directory the server's account may enter
// and write.
func ownedTempDir(cred *syscall.Credential, pattern string) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}

// StartPostgres starts a PostgreSQL server for t, killed by its process id
// and deleted when t ends. Where PostgreSQL 15 is not installed (make test
// installs it: internal/testsvc/install-postgres.sh), the test is skipped
// with the reason, except in CI (CI=true), where it fails.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pgBin(), "postgres")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("testsvc: no PostgreSQL server: %v (make test installs it)", err)
		}
		t.Skipf("no PostgreSQL 15 for this test (run internal/testsvc/install-postgres.sh): %v", err)
	}
	tmpl, err := pgTemplate()
	if err != nil {
		t.Fatal(err)
	}
	var p *Postgres
	// The free port is found by binding it and letting it go; another
	// process may take it in between, so try a few.
	for range 3 {
		if p, err = startPostgres(t, tmpl); err == nil {
			return p
		}
	}
	t.Fatal(err)
	return nil
}

func startPostgres(t testing.TB, tmpl string) (*Postgres, error) {
	cred, err := pgCred()
	if err != nil {
		return nil, err
	}
	base, err := ownedTempDir(cred, "audex-pg-")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(base, "data")
	// cp -a keeps the owner and the 0700 mode the server insists on.
	if out, err := exec.Command("cp", "-a", tmpl, data).CombinedOutput(); err != nil {
		os.RemoveAll(base)
		return nil, fmt.Errorf("testsvc: copy the cluster template: %w\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(base)
		return nil, err
	}
	p := &Postgres{Port: port, Dir: base}
	// Durability of the test cluster itself is not under test (the tests
	// kill audex processes, never the database): no fsync.
	cmd := exec.Command(filepath.Join(pgBin(), "postgres"), "-D", data,
		"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-k", base,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=32MB")
	// Ready once it answers a query.
	p.process, err = start("postgres", cmd, filepath.Join(base, "postgres.log"), cred, 60*time.Second, func() error {
		return p.psql("postgres", "SELECT 1")
	})
	if err != nil {
		os.RemoveAll(base)
		return nil, err
	}
	t.Cleanup(func() {
		p.Stop()
		os.RemoveAll(base)
	})
	return p, nil
}

// psql runs one SQL command on database db over TCP.
func (p *Postgres) psql(db, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-U", pgUser, "-d", db, "-c", sql)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("psql %q: %w: %s", sql, err, out.Bytes())
	}
	return nil
}

var databases atomic.Int64

// NewDatabase makes a new, empty database on the server and returns its
// URL, postgres://audex@127.0.0.1:PORT/NAME?sslmode=disable.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("audex_%d_%d", os.Getpid(), databases.Add(1))
	if err := p.psql("postgres", "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testsvc: %v", err)
	}
	return p.URL(name)
}

// URL is the connection URL of database name on the server.
func (p *Postgres) URL(name string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", pgUser, p.Port, name)
}
