// Package ffmpeg builds and finds the pinned static FFmpeg that audex links
// against. It runs build.sh, embedded here so that it works the same from a
// clone, from a read-only copy of the module in Go's module cache and from an
// installed binary: the script is handed to bash, never executed from disk,
// and writes only to its cache directory. It uses no cgo.
package ffmpeg

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
)

//go:embed build.sh
var script string

// Profile selects one of build.sh's two builds.
type Profile string

const (
	// Library is what audex and every program built on its library link:
	// audio demuxers, decoders and the encoders audex uses, with the codec
	// libraries linked statically.
	Library Profile = "lib"
	// Tools is the test and benchmark tooling: the ffmpeg and ffprobe
	// programs that make fixtures and serve as the benchmark baseline.
	Tools Profile = "tools"
)

// ErrNotBuilt reports that the cache holds no finished build of a profile.
var ErrNotBuilt = errors.New("ffmpeg: no cached build")

// Build returns the install prefix of profile's build, building it first
// (and installing its Debian build dependencies) if the cache lacks it.
// The script's progress goes to log.
func Build(ctx context.Context, p Profile, log io.Writer) (string, error) {
	return run(ctx, log, "--profile", string(p))
}

// Cached returns the install prefix of profile's finished build, or
// ErrNotBuilt. It builds and installs nothing.
func Cached(ctx context.Context, p Profile) (string, error) {
	prefix, err := run(ctx, io.Discard, "--profile", string(p), "--cached")
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return "", fmt.Errorf("%w of profile %s", ErrNotBuilt, p)
	}
	return prefix, err
}

// Tool returns the path of a program (ffmpeg, ffprobe) of the cached Tools
// build, or ErrNotBuilt.
func Tool(ctx context.Context, name string) (string, error) {
	prefix, err := Cached(ctx, Tools)
	if err != nil {
		return "", err
	}
	return filepath.Join(prefix, "bin", name), nil
}

func run(ctx context.Context, log io.Writer, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", append([]string{"-c", script, "build.sh"}, args...)...)
	cmd.Stdout = &out
	cmd.Stderr = log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("ffmpeg: build.sh %s: %w", strings.Join(args, " "), err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	prefix := lines[len(lines)-1]
	if !filepath.IsAbs(prefix) {
		return "", fmt.Errorf("ffmpeg: build.sh %s printed %q, not an install prefix", strings.Join(args, " "), prefix)
	}
	return prefix, nil
}

// Var is one environment variable of a build environment.
type Var struct{ Name, Value string }

// Env is what `go build` needs to link against the Library build at prefix:
// cgo on; pkg-config pointed at the build's own .pc files (through the
// build's audex-pkg-config, since Go reads only the first word of
// $PKG_CONFIG; PKG_CONFIG_PATH is set too, for other tools); and the build's
// include directory in CGO_CPPFLAGS. Go's build cache does not track what
// pkg-config prints, only the CGO_ variables: naming the prefix there makes
// a change of FFmpeg build recompile the cgo packages instead of linking
// stale ones.
func Env(prefix string) []Var {
	return []Var{
		{"CGO_ENABLED", "1"},
		{"CGO_CPPFLAGS", "-I" + filepath.Join(prefix, "include")},
		{"PKG_CONFIG", filepath.Join(prefix, "bin", "audex-pkg-config")},
		{"PKG_CONFIG_PATH", filepath.Join(prefix, "lib", "pkgconfig")},
	}
}
