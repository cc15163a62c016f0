// Command audex-env prepares a machine to build Go programs that use audex:
// it builds (or finds in ~/.cache/audex) the pinned static FFmpeg that audex
// links against, then prints the environment `go build` needs. From your own
// module, once per shell:
//
//	eval "$(go run github.com/audex/audex/cmd/audex-env)"
//
// or once per machine, for every later go command:
//
//	go env -w $(go run github.com/audex/audex/cmd/audex-env -format goenv)
//
// It needs bash and, on a machine without FFmpeg's build dependencies, apt
// (it installs them, through sudo when not root). It uses no cgo itself, and
// runs the module's own build script without writing outside the cache, so it
// works from the read-only module cache. Progress goes to stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/audex/audex/internal/ffmpeg"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audex-env", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "sh", "`sh`: export lines for eval; goenv: NAME=VALUE words for go env -w")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: audex-env [-format sh|goenv]")
		fmt.Fprintln(stderr, "Builds or finds the pinned FFmpeg audex links against and prints the build environment.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *format != "sh" && *format != "goenv" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	prefix, err := ffmpeg.Build(ctx, ffmpeg.Library, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "audex-env:", err)
		return 1
	}
	for _, v := range ffmpeg.Env(prefix) {
		switch *format {
		case "sh":
			val := shellQuote(v.Value)
			switch v.Name { // keep what the shell had
			case "PKG_CONFIG_PATH":
				val += "${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
			case "CGO_CPPFLAGS":
				val += `${CGO_CPPFLAGS:+" $CGO_CPPFLAGS"}`
			}
			fmt.Fprintf(stdout, "export %s=%s\n", v.Name, val)
		case "goenv":
			// go env knows no PKG_CONFIG_PATH; PKG_CONFIG's script carries it.
			if v.Name != "PKG_CONFIG_PATH" {
				fmt.Fprintf(stdout, "%s=%s\n", v.Name, v.Value)
			}
		}
	}
	return 0
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
