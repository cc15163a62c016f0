package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/audex/audex/extract"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitFailure     = 1   // the work failed: bad input, server error, I/O error
	ExitUsage       = 2   // the command line is wrong
	ExitInterrupted = 130 // canceled by SIGINT/SIGTERM (128 + SIGINT, as shells report it)
)

// env is what a subcommand may touch of the outside world.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// dir is where downloads without -o go; "" is the working directory.
	dir string
}

type command struct {
	name    string
	args    string // synopsis after the name
	summary string
	help    string // description and examples, shown by --help
	hidden  bool
	run     func(ctx context.Context, e *env, args []string) error
}

// commands is filled in init to break the reference cycle with help.
var commands []*command

func init() {
	commands = []*command{
		extractCmd, probeCmd, serveCmd, workCmd, migrateCmd, submitCmd, statusCmd, fetchCmd, cancelCmd, benchCmd, isolateCmd,
	}
}

// Main runs the audex command line with args (without the program name) and
// returns the process exit code. It never calls os.Exit and writes only to
// the given writers, so it can be tested in-process.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	return e.main(ctx, args)
}

func (e *env) main(ctx context.Context, args []string) int {
	if len(args) == 0 {
		e.usage(e.stderr)
		return ExitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if name == "help" && len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				return e.report(ctx, c, c.run(ctx, e, []string{"--help"}))
			}
			fmt.Fprintf(e.stderr, "audex: unknown command %q (see 'audex --help')\n", args[1])
			return ExitUsage
		}
		e.usage(e.stdout)
		return ExitOK
	case "-version", "--version", "version":
		fmt.Fprintln(e.stdout, versionString())
		return ExitOK
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(e.stderr, "audex: unknown command %q (see 'audex --help')\n", name)
		return ExitUsage
	}
	return e.report(ctx, c, c.run(ctx, e, args[1:]))
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// report turns a subcommand's error into the one line and exit code.
func (e *env) report(ctx context.Context, c *command, err error) int {
	var ue *usageError
	var fe *failure
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.Is(err, errReported):
		return ExitFailure
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "audex %s: %s (see 'audex %s --help')\n", c.name, ue.msg, c.name)
		return ExitUsage
	case ctx.Err() != nil && (errors.Is(err, ctx.Err()) || errors.Is(err, extract.ErrCanceled)):
		msg := "audex: interrupted"
		var in *interruption
		if errors.As(err, &in) {
			msg += "; " + in.note
		}
		fmt.Fprintln(e.stderr, msg)
		return ExitInterrupted
	case errors.As(err, &fe):
		fmt.Fprintf(e.stderr, "audex: %s: %s\n", fe.subject, message(fe.err, fe.subject))
		return ExitFailure
	default:
		fmt.Fprintf(e.stderr, "audex: %s\n", message(err, ""))
		return ExitFailure
	}
}

// usageError is a wrong command line: exit 2.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errReported is a failure the command has already explained on its
// output: exit 1 without another line.
var errReported = errors.New("failure already reported")

// interruption is an interrupt with a note on what it left behind (a job
// canceled, a result still on the server).
type interruption struct {
	err  error
	note string
}

func (i *interruption) Error() string { return i.err.Error() + "; " + i.note }
func (i *interruption) Unwrap() error { return i.err }

// failure is a runtime failure about subject (an input file, a job ID).
type failure struct {
	subject string
	err     error
}

func (f *failure) Error() string { return f.subject + ": " + f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

func fail(subject string, err error) error {
	if err == nil {
		return nil
	}
	return &failure{subject: subject, err: err}
}

// message is err's text without package prefixes, and for file errors on
// the subject itself just the system's reason ("no such file or directory").
func message(err error, subject string) string {
	var pe *fs.PathError
	if errors.As(err, &pe) && subject != "" && pe.Path == subject {
		return pe.Err.Error()
	}
	msg := err.Error()
	for _, p := range []string{"extract: ", "client: ", "bench: ", "httpapi: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

func (e *env) usage(w io.Writer) {
	fmt.Fprint(w, `audex extracts audio from video, in-process on FFmpeg's libraries.

Usage:
  audex <command> [arguments]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		if !c.hidden {
			fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
		}
	}
	tw.Flush()
	fmt.Fprint(w, `
Run 'audex <command> --help' for a command's flags and examples.
Exit status: 0 success, 1 failure, 2 bad command line, 130 interrupted.
`)
}

func versionString() string {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	return fmt.Sprintf("audex %s %s %s/%s", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// newFlags returns c's FlagSet. It never prints by itself: parse reports.
func (c *command) newFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("audex "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses flags anywhere among the positional arguments (flags after
// the input work too); "--" ends the flags. --help prints c's help to stdout
// and returns flag.ErrHelp.
func (c *command) parse(e *env, fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.printHelp(e.stdout, fs)
				return nil, err
			}
			return nil, &usageError{msg: err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func (c *command) printHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: audex %s %s\n\n%s\n", c.name, c.args, strings.TrimSpace(c.help))
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	if len(flags) == 0 {
		return
	}
	fmt.Fprint(w, "\nFlags:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range flags {
		name, usage := flag.UnquoteUsage(f)
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		left := dash + f.Name
		if name != "" {
			left += " " + name
		}
		if d := f.DefValue; d != "" && d != "0" && d != "false" && !strings.Contains(usage, "default") {
			usage += fmt.Sprintf(" (default %s)", d)
		}
		fmt.Fprintf(tw, "  %s\t%s\n", left, usage)
	}
	tw.Flush()
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && termIsTerminal(int(f.Fd()))
}

// exactArgs checks the number of positional arguments.
func exactArgs(pos []string, names ...string) error {
	switch {
	case len(pos) < len(names):
		return usagef("missing %s", names[len(pos)])
	case len(pos) > len(names):
		return usagef("unexpected argument %q", pos[len(names)])
	}
	return nil
}

func hasExt(path string, exts ...string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return slices.Contains(exts, ext)
}
