package cli

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// result is what one in-process run of the command line printed.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the command line in-process with the given stdin (nil: empty)
// and environment variables (the process environment is never read), in a
// working directory of its own.
func run(t *testing.T, ctx context.Context, stdin io.Reader, vars map[string]string, args ...string) result {
	t.Helper()
	return runIn(t, ctx, t.TempDir(), stdin, vars, args...)
}

// runIn is run with dir as the working directory (where downloads without
// -o go).
func runIn(t *testing.T, ctx context.Context, dir string, stdin io.Reader, vars map[string]string, args ...string) result {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errb bytes.Buffer
	e := &env{stdin: stdin, stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }, dir: dir}
	code := e.main(ctx, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	// Never dialled: every case fails before.
	const pgURL = "postgres://audex@127.0.0.1:1/audex"
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"help", "nope"}, `unknown command "nope"`},
		{[]string{"extract"}, "missing INPUT"},
		{[]string{"extract", "a.mp4", "b.mp4"}, `unexpected argument "b.mp4"`},
		{[]string{"extract", "a.mp4", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"extract", "a.mp4", "--start", "abc"}, `invalid value "abc" for flag -start`},
		{[]string{"extract", "a.mp4", "--start", "-1"}, `invalid value "-1" for flag -start`},
		{[]string{"extract", "a.mp4", "--start"}, "flag needs an argument: -start"},
		{[]string{"extract", "a.mp4", "--duration", "1", "--to", "2"}, "--duration and --to exclude each other"},
		{[]string{"extract", "a.mp4", "--start", "2", "--to", "1"}, "--to (00:00:01) must be after --start (00:00:02)"},
		{[]string{"extract", "a.mp4", "--duration", "0"}, "--duration must be greater than 0"},
		{[]string{"extract", "a.mp4", "--full", "--duration", "2"}, "--full excludes --duration and --to"},
		{[]string{"extract", "a.mp4", "--duration", "7:00:00"}, "over the 06:00:00 limit"},
		{[]string{"extract", "a.mp4", "-o", "x.xyz"}, `cannot tell the output format from ".xyz"`},
		{[]string{"extract", "a.mp4", "--format", "xyz"}, "want one of mp3, wav"},
		{[]string{"extract", "a.mp4", "--bitrate", "lots"}, "like 128000 or 128k"},
		{[]string{"extract", "a.mp4", "--bitrate", "infk"}, "like 128000 or 128k"},
		{[]string{"extract", "a.mp4", "--copy", "maybe"}, "want auto, never or always"},
		{[]string{"extract", "a.mp4", "--track", "0"}, "want a positive integer"},
		{[]string{"extract", "a.mp4", "--rate", "-8000"}, "want a positive integer"},
		{[]string{"extract", "a.mp4", "--lang", "english"}, "want a 2- or 3-letter ISO 639 code"},
		{[]string{"extract", "dir/a.mp3"}, "the output would replace dir/a.mp3"},
		{[]string{"extract", "-", "--json"}, "--json needs -o FILE"},
		{[]string{"probe"}, "missing INPUT"},
		{[]string{"probe", "a", "b"}, `unexpected argument "b"`},
		{[]string{"submit"}, "missing INPUT or URL"},
		{[]string{"submit", "a.mp4", "--server", "ftp://x"}, `--server "ftp://x"`},
		{[]string{"submit", "a.mp4", "-o", "-", "--json"}, "--json needs -o FILE"},
		{[]string{"status"}, "missing JOB_ID"},
		{[]string{"fetch", "a", "b"}, `unexpected argument "b"`},
		{[]string{"cancel"}, "missing JOB_ID"},
		{[]string{"cancel", "a", "b"}, `unexpected argument "b"`},
		{[]string{"bench", "--plot", "x.pdf"}, `want a .svg file`},
		{[]string{"bench", "extra"}, `unexpected argument "extra"`},
		{[]string{"bench", "--workers", "-1"}, "must not be negative"},
		{[]string{"serve"}, "no credentials: give --token or --credentials"},
		{[]string{"serve", "--token", "t", "--max-upload", "lots"}, "want a positive size"},
		{[]string{"serve", "--token", "t", "--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"serve", "--token", "t", "--workers", "-2"}, `invalid value "-2" for flag -workers: want a count, 0 or more`},
		{[]string{"serve", "--token", "t", "--workers", "0"}, "--workers 0 is an API-only replica: it needs a shared --store"},
		{[]string{"serve", "--token", "t", "--store", "mysql://db/audex"}, "--store: want postgres://"},
		{[]string{"serve", "--token", "t", "--store", pgURL}, "--store is shared: give --blobs s3://"},
		{[]string{"serve", "--token", "t", "--store", pgURL, "--blobs", "s3://b"}, "--store is shared: give --signing-key-file"},
		{[]string{"serve", "--token", "t", "--store", "postgresql://db/audex", "--blobs", "s3://b", "--workers", "0"}, "give --signing-key-file"},
		{[]string{"work"}, "--store: a work node runs the jobs of a shared store"},
		{[]string{"work", "--store", "/var/lib/audex"}, "--store: want postgres://"},
		{[]string{"work", "--store", pgURL}, "--blobs: a work node reads inputs from and writes results to the bucket"},
		{[]string{"work", "--store", pgURL, "--blobs", "s3://b", "--workers", "0"}, "--workers 0: a work node without workers would run nothing"},
		{[]string{"work", "--store", pgURL, "--blobs", "s3://b", "--fetchers", "-1"}, "--fetchers must not be negative"},
		{[]string{"work", "--store", pgURL, "--blobs", "s3://b", "--isolation", "vm"}, `--isolation "vm": want process or none`},
		{[]string{"work", "--store", pgURL, "--blobs", "/tmp/blobs"}, `--blobs "/tmp/blobs": want s3://`},
		{[]string{"work", "--store", pgURL, "--blobs", "s3://b"}, "no credentials: set AWS_ACCESS_KEY_ID"},
		{[]string{"work", "--store", pgURL, "--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"work", "now"}, `unexpected argument "now"`},
		{[]string{"migrate"}, "--store: want the PostgreSQL store to migrate"},
		{[]string{"migrate", "--store", "bolt:///var/lib/audex"}, "--store: want postgres://"},
		{[]string{"migrate", "--store", pgURL, "now"}, `unexpected argument "now"`},
		{[]string{"serve", "--token", "a b"}, "--token: httpapi: bad credentials configuration"},
		{[]string{"serve", "now"}, `unexpected argument "now"`},
		{[]string{"serve", "--token", "t", "--isolation", "vm"}, `--isolation "vm": want process or none`},
		{[]string{"serve", "--token", "t", "--blobs", "/var/blobs"}, `--blobs "/var/blobs": want s3://bucket/prefix`},
		{[]string{"serve", "--token", "t", "--blobs", "s3://bucket?color=red"}, `unknown parameter "color"`},
		{[]string{"serve", "--token", "t", "--blobs", "s3://bucket"}, "no credentials: set AWS_ACCESS_KEY_ID"},
		{[]string{"isolate", "x"}, `unexpected argument "x"`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			t.Parallel()
			r := run(t, context.Background(), nil, nil, c.args...)
			assert.Equal(t, ExitUsage, r.code)
			assert.Empty(t, r.stdout)
			assert.Contains(t, r.stderr, c.want)
			assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
			assert.True(t, strings.HasPrefix(r.stderr, "audex"), r.stderr)
		})
	}
}

func TestNoArgsPrintsUsage(t *testing.T) {
	t.Parallel()
	r := run(t, context.Background(), nil, nil)
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, "Usage:")
	assert.Empty(t, r.stdout)
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}, {c.name, "in.mp4", "--help"}} {
				r := run(t, context.Background(), nil, nil, args...)
				require.Equal(t, ExitOK, r.code, args)
				assert.Empty(t, r.stderr, args)
				assert.True(t, strings.HasPrefix(r.stdout, "Usage: audex "+c.name+" "), r.stdout)
				assert.Contains(t, r.stdout, "Examples:\n  audex "+c.name, args)
			}
		})
	}
	r := run(t, context.Background(), nil, nil, "--help")
	assert.Equal(t, ExitOK, r.code)
	for _, c := range commands {
		if c.hidden {
			assert.NotContains(t, r.stdout, "  "+c.name+" ")
		} else {
			assert.Contains(t, r.stdout, "  "+c.name+" ")
		}
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	t.Parallel()
	// The job flags must read the same on extract and submit.
	for _, name := range []string{"extract", "submit"} {
		r := run(t, context.Background(), nil, nil, name, "--help")
		for _, f := range []string{"--start TIME", "--duration TIME", "--to TIME", "--full", "--format FORMAT",
			"--track N", "--lang LANGUAGE", "--rate HZ", "--channels N", "--bitrate BITRATE", "--copy MODE", "-o FILE", "--json"} {
			assert.Contains(t, r.stdout, "  "+f+" ", "%s --help lacks %s", name, f)
		}
	}
	r := run(t, context.Background(), nil, nil, "bench", "--help")
	for _, f := range []string{"--ffmpeg PROGRAM", "--input FILE", "--quick", "--workers N", "--json", "--plot FILE"} {
		assert.Contains(t, r.stdout, "  "+f+" ")
	}
}

func TestServeEnvironment(t *testing.T) {
	t.Parallel()
	r := run(t, context.Background(), nil, map[string]string{"AUDEX_TOKEN": "t", "AUDEX_WORKERS": "many"}, "serve")
	assert.Equal(t, ExitUsage, r.code)
	assert.Equal(t, "audex serve: $AUDEX_WORKERS: invalid value \"many\": want a count, 0 or more (see 'audex serve --help')\n", r.stderr)

	for cmd, flags := range map[string][]string{
		"serve": {"--addr ADDRESS", "--data-dir DIR", "--store URL", "--blobs URL", "--token TOKEN", "--credentials FILE", "--anonymous",
			"--workers N", "--queue N", "--min-free SIZE", "--job-timeout", "--retention", "--max-upload SIZE", "--public-url URL",
			"--signing-key-file FILE", "--shutdown-grace", "--drain-timeout", "--log-level LEVEL", "--isolation MODE", "--worker-memory SIZE"},
		"work": {"--store URL", "--blobs URL", "--data-dir DIR", "--workers N", "--fetchers N", "--job-timeout", "--retention",
			"--expired-grace", "--sweep-interval", "--max-fetch SIZE", "--drain-timeout", "--log-level LEVEL", "--isolation MODE", "--worker-memory SIZE"},
		"migrate": {"--store URL"},
	} {
		r := run(t, context.Background(), nil, nil, cmd, "--help")
		for _, f := range flags {
			assert.Contains(t, r.stdout, "  "+f+" ", cmd)
		}
		// Every flag names its variable.
		for _, line := range strings.Split(r.stdout[strings.Index(r.stdout, "Flags:"):], "\n")[1:] {
			if strings.HasPrefix(line, "  -") {
				assert.Regexp(t, `\[\$AUDEX_[A-Z_]+\]`, line, cmd)
			}
		}
	}
}

// A shared store takes its URL from $AUDEX_STORE as from --store, and a
// signing key shorter than 32 bytes is refused before anything starts.
func TestServeSharedStoreKey(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"AUDEX_TOKEN": "t", "AUDEX_STORE": "postgres://audex@127.0.0.1:1/audex", "AUDEX_BLOBS": "s3://b"}
	r := run(t, context.Background(), nil, vars, "serve")
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, "give --signing-key-file")

	key := filepath.Join(t.TempDir(), "signing.key")
	require.NoError(t, os.WriteFile(key, []byte("0123456789abcdef0123456789abcde\n"), 0o600))
	r = run(t, context.Background(), nil, vars, "serve", "--signing-key-file", key)
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "audex: "+key+": 31 bytes of key, want at least 32\n", r.stderr)
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"1048576": 1 << 20, "2GiB": 2 << 30, "500MB": 500e6, "64K": 64 << 10, "10 MiB": 10 << 20, "7B": 7} {
		got, err := parseSize(in)
		if assert.NoError(t, err, in) {
			assert.Equal(t, want, got, in)
		}
	}
	for _, in := range []string{"", "0", "-1", "1.5GB", "lots", "GB", "99999999999TiB"} {
		_, err := parseSize(in)
		assert.Error(t, err, in)
	}
}

func TestParseInterspersed(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := fs.String("o", "", "")
	start := fs.String("start", "", "")
	v := fs.Bool("v", false, "")
	pos, err := extractCmd.parse(&env{stdout: io.Discard}, fs, []string{"in.mp4", "-o", "out.mp3", "--start", "3", "-", "-v", "--", "--not-a-flag"})
	require.NoError(t, err)
	assert.Equal(t, []string{"in.mp4", "-", "--not-a-flag"}, pos)
	assert.Equal(t, "out.mp3", *o)
	assert.Equal(t, "3", *start)
	assert.True(t, *v)
}

func TestParseBitrate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"128k": 128000, "128K": 128000, "96000": 96000, "1.5M": 1500000, "64.5k": 64500} {
		got, err := parseBitrate(in)
		if assert.NoError(t, err, in) {
			assert.Equal(t, want, got, in)
		}
	}
	for _, in := range []string{"", "k", "0", "999", "3M", "-128k", "1e5", "0x10k", "NaN", "128kb"} {
		_, err := parseBitrate(in)
		assert.Error(t, err, in)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := run(t, context.Background(), nil, nil, "--version")
	assert.Equal(t, ExitOK, r.code)
	assert.True(t, strings.HasPrefix(r.stdout, "audex "), r.stdout)
}

func TestLineHandler(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	lg := slog.New(&lineHandler{w: &b})
	lg.Warn("Invalid data found", "ffmpeg", "mov,mp4")
	lg.With("ffmpeg", "mp3").Info("skipping")
	assert.Equal(t, "ffmpeg[mov,mp4] warn: Invalid data found\nffmpeg[mp3] info: skipping\n", b.String())
}
