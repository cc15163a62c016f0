package cli

import (
	"context"

	"github.com/audex/audex/internal/isolate"
)

// isolateCmd is the process 'audex serve' starts for each isolate of its
// pool. It speaks the isolate protocol on its own stdin and stdout, so it
// ignores the injected streams.
var isolateCmd = &command{
	name:    "isolate",
	args:    "",
	summary: "serve extractions to a parent process (internal)",
	help: `
The isolate process of 'audex serve': it reads extraction jobs from standard
input and writes progress and results to standard output, in the protocol of
package internal/isolate. It is not meant to be run by hand.

Examples:
  audex isolate    # started by 'audex serve'
`,
	hidden: true,
}

func init() { isolateCmd.run = runIsolate }

func runIsolate(ctx context.Context, e *env, args []string) error {
	fs := isolateCmd.newFlags()
	pos, err := isolateCmd.parse(e, fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos); err != nil {
		return err
	}
	// The pool ends an isolate by closing its stdin, or kills it; a signal
	// meant for the server (the isolate has its own process group) must not
	// cut a job short, so the isolate does not follow ctx's cancellation.
	return isolate.ServeProcess(context.WithoutCancel(ctx))
}
