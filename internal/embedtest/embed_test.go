package embedtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/testmedia"
)

// The program a user writes: one clip through the library, one job through
// the job manager. It prints what each produced as JSON.
const userProgram = `package main

import (
	"context"
	"encoding/json"
	"os"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/jobs"
)

func main() {
	in, out, data := os.Args[1], os.Args[2], os.Args[3]
	ctx := context.Background()
	res, err := extract.ExtractFile(ctx, out, in, &extract.Options{
		Start:    500 * time.Millisecond,
		Duration: 1500 * time.Millisecond,
	})
	if err != nil {
		panic(err)
	}
	m, err := jobs.New(jobs.Config{Dir: data, Workers: 1, MinFreeBytes: -1})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	job, err := m.SubmitFile(ctx, in, jobs.Request{Options: extract.Options{Format: extract.FLAC, Duration: time.Second}})
	if err != nil {
		panic(err)
	}
	if job, err = m.Wait(ctx, job.ID); err != nil {
		panic(err)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{"samples": res.Samples, "rate": res.SampleRate, "job": job.State})
}
`

// The C runtime: the only shared objects a binary may load.
var cRuntime = regexp.MustCompile(`^(linux-vdso\.so|ld-linux[-\w]*\.so|lib(c|m|pthread|dl|rt|resolv)\.so)`)

func TestUserModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program in a new module")
	}
	root := moduleRoot(t)
	tmp := t.TempDir()
	mod := readOnlyCopy(t, root, filepath.Join(tmp, "audex"))
	app := filepath.Join(tmp, "app")
	require.NoError(t, os.Mkdir(app, 0o755))
	write(t, filepath.Join(app, "main.go"), userProgram)
	write(t, filepath.Join(app, "go.mod"), fmt.Sprintf(
		"module example.com/app\n\ngo 1.26\n\nrequire github.com/audex/audex v0.0.0\n\nreplace github.com/audex/audex => %s\n", mod))
	// The checksums of audex's own dependencies, as `go get` would have
	// recorded them; nothing is fetched (GOPROXY=off, and -mod=mod lets go
	// build add the requirements from the module cache).
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	require.NoError(t, err)
	write(t, filepath.Join(app, "go.sum"), string(sum))
	env := userEnv(t, tmp)

	eval, goenv := readmeCommands(t, filepath.Join(root, "README.md"))
	fixture := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 3})

	t.Run("eval", func(t *testing.T) {
		run(t, app, env, "bash", "-euo", "pipefail", "-c", eval)
		checkProgram(t, filepath.Join(app, "app"), fixture)

		// The audex binary, installed from the same read-only module.
		bin := filepath.Join(tmp, "audex-bin")
		run(t, app, env, "bash", "-euo", "pipefail", "-c", eval+"\ngo build -trimpath -o "+bin+" github.com/audex/audex/cmd/audex")
		assertStatic(t, bin)
		jail := chroot(t, bin, fixture)
		out := runIn(t, jail, "/bin", "extract", "/in.mp4", "--start", "0.5", "--duration", "2", "-o", "/out/clip.ogg", "--json")
		assert.Contains(t, out, `"codec"`)
		a := testmedia.Decode(t, filepath.Join(jail, "out", "clip.ogg"))
		assert.Equal(t, "vorbis", a.Codec)
		assert.Equal(t, 2*a.Rate, a.Frames(), "exactly 2 s decoded")
	})

	t.Run("go env -w", func(t *testing.T) {
		// Persisted in a GOENV file of the test's own, then built from a
		// shell that has nothing of the eval form.
		env := append(env, "GOENV="+filepath.Join(tmp, "goenv"))
		require.NoError(t, os.Remove(filepath.Join(app, "app")))
		run(t, app, env, "bash", "-euo", "pipefail", "-c", goenv)
		checkProgram(t, filepath.Join(app, "app"), fixture)
	})
}

// checkProgram runs the user's program, in place and in a chroot without
// codec libraries, and checks what it wrote.
func checkProgram(t *testing.T, prog, fixture string) {
	t.Helper()
	assertStatic(t, prog)
	jail := chroot(t, prog, fixture)
	out := runIn(t, jail, "/bin", "/in.mp4", "/out/clip.mp3", "/data")
	var got struct {
		Samples, Rate int
		Job           string
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	a := testmedia.Decode(t, filepath.Join(jail, "out", "clip.mp3"))
	assert.Equal(t, "mp3", a.Format)
	assert.Equal(t, a.Rate*3/2, a.Frames(), "exactly 1.5 s decoded")
	assert.Equal(t, a.Frames(), got.Samples)
	assert.Equal(t, "succeeded", got.Job)
	_, err := os.Stat(filepath.Join(jail, "in.mp4"))
	assert.NoError(t, err, "the job left its input where it was")
}

// assertStatic checks that bin loads nothing but the C runtime.
func assertStatic(t *testing.T, bin string) {
	t.Helper()
	for _, lib := range sharedLibs(t, bin) {
		assert.Regexp(t, cRuntime, filepath.Base(lib.name), "%s needs %s", filepath.Base(bin), lib.name)
	}
}

type sharedLib struct{ name, path string }

func sharedLibs(t *testing.T, bin string) []sharedLib {
	t.Helper()
	out, err := exec.Command("ldd", bin).CombinedOutput()
	require.NoError(t, err, "ldd: %s", out)
	var libs []sharedLib
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 3 && f[1] == "=>":
			libs = append(libs, sharedLib{f[0], f[2]})
		case len(f) >= 1 && filepath.IsAbs(f[0]):
			libs = append(libs, sharedLib{filepath.Base(f[0]), f[0]})
		case len(f) >= 1:
			libs = append(libs, sharedLib{f[0], ""}) // linux-vdso
		}
	}
	require.NotEmpty(t, libs)
	return libs
}

// chroot makes a root holding bin as /bin, the C runtime it loads at the
// paths ldd names, the fixture as /in.mp4, and writable /tmp, /out, /data.
func chroot(t *testing.T, bin, fixture string) string {
	t.Helper()
	jail := t.TempDir()
	copyFile(t, bin, filepath.Join(jail, "bin"), 0o755)
	copyFile(t, fixture, filepath.Join(jail, "in.mp4"), 0o644)
	for _, lib := range sharedLibs(t, bin) {
		if lib.path == "" {
			continue
		}
		real, err := filepath.EvalSymlinks(lib.path)
		require.NoError(t, err)
		copyFile(t, real, filepath.Join(jail, lib.path), 0o755)
	}
	for _, d := range []string{"tmp", "out", "data"} {
		require.NoError(t, os.Mkdir(filepath.Join(jail, d), 0o777))
		require.NoError(t, os.Chmod(filepath.Join(jail, d), 0o1777))
	}
	return jail
}

// runIn runs a program inside the root jail, with an empty library path.
func runIn(t *testing.T, jail, prog string, args ...string) string {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Dir = "/"
	cmd.Env = []string{"LD_LIBRARY_PATH=", "TMPDIR=/tmp", "HOME=/tmp"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: jail}
	if os.Geteuid() != 0 {
		// Unprivileged: a user namespace of our own grants the chroot.
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "in a chroot: %s %v\n%s", prog, args, stderr.String())
	return stdout.String()
}

// readmeCommands returns the README's two shell blocks under "Use audex in
// your own module": the eval form and the go env -w form.
func readmeCommands(t *testing.T, readme string) (eval, goenv string) {
	t.Helper()
	b, err := os.ReadFile(readme)
	require.NoError(t, err)
	_, sec, ok := strings.Cut(string(b), "\n## Use audex in your own module\n")
	require.True(t, ok, "README has no section 'Use audex in your own module'")
	if i := strings.Index(sec, "\n## "); i >= 0 {
		sec = sec[:i]
	}
	blocks := regexp.MustCompile("(?s)\n```sh\n(.*?)```").FindAllStringSubmatch(sec, -1)
	require.Len(t, blocks, 2, "the section's sh blocks: the eval form and the go env -w form")
	eval, goenv = blocks[0][1], blocks[1][1]
	require.Contains(t, eval, "eval ")
	require.Contains(t, goenv, "go env -w ")
	return eval, goenv
}

// userEnv is the test's environment without anything that builds against
// FFmpeg (make test runs under with-env): what the README's commands set is
// all there is. Nothing is fetched from the network.
func userEnv(t *testing.T, tmp string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PKG_CONFIG") || strings.HasPrefix(k, "CGO_") || k == "GOFLAGS" || k == "GOENV" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOPROXY=off", "GOSUMDB=off", "GOFLAGS=-mod=mod", "GOENV="+filepath.Join(tmp, "no-goenv"))
}

func run(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s\n%s", name, strings.Join(args, " "), out)
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

// readOnlyCopy copies the module's files (tracked, and untracked ones git
// does not ignore) to dst, then makes it read-only the way Go's module cache
// is: files 0444, directories 0555.
func readOnlyCopy(t *testing.T, root, dst string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	require.NoError(t, err)
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, name)
		if fi, err := os.Lstat(src); err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or a link
		}
		copyFile(t, src, filepath.Join(dst, name), 0o444)
	}
	require.NoError(t, filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			err = os.Chmod(p, 0o555)
		}
		return err
	}))
	t.Cleanup(func() { // so that TempDir can remove it
		filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	return dst
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
	require.NoError(t, os.WriteFile(dst, b, mode))
}

func write(t *testing.T, path, s string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(s), 0o644))
}
