package testsvc

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestPostgres starts a server, makes two databases and finds each empty
// and writable, and checks that Stop ends the server's process.
func TestPostgres(t *testing.T) {
	p := StartPostgres(t)
	a, b := p.NewDatabase(t), p.NewDatabase(t)
	if a == b {
		t.Fatalf("NewDatabase gave %s twice", a)
	}
	for _, u := range []string{a, b} {
		if !strings.HasPrefix(u, "postgres://audex@127.0.0.1:"+strconv.Itoa(p.Port)+"/") {
			t.Fatalf("URL %s: want one on 127.0.0.1:%d", u, p.Port)
		}
		out, err := exec.Command("psql", "-X", "-q", "-At", "-d", u, "-c",
			"CREATE TABLE t (x int); INSERT INTO t VALUES (7); SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "1" {
			t.Fatalf("psql on %s: %v: %q, want one table", u, err, out)
		}
	}
	pid := p.cmd.Process.Pid
	p.Stop()
	if err := exec.Command("kill", "-0", strconv.Itoa(pid)).Run(); err == nil {
		t.Fatalf("postgres %d still running after Stop", pid)
	}
	if _, err := os.Stat(p.Dir); err != nil {
		t.Fatalf("data directory gone before the test's cleanup: %v", err)
	}
}
