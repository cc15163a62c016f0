package cli

import (
	"context"

	"github.com/audex/audex/internal/worker"
)

// workerCmd is the process 'audex serve' starts for each worker of its pool.
// It speaks the worker protocol on its own stdin and stdout, so it ignores
// the injected streams.
var workerCmd = &command{
	name:    "worker",
	args:    "",
	summary: "serve extractions to a parent process (internal)",
	help: `
The worker process of 'audex serve': it reads extraction jobs from standard
input and writes progress and results to standard output, in the protocol of
package internal/worker. It is not meant to be run by hand.

Examples:
  audex worker    # started by 'audex serve'
`,
	hidden: true,
}

func init() { workerCmd.run = runWorker }

func runWorker(ctx context.Context, e *env, args []string) error {
	fs := workerCmd.newFlags()
	pos, err := workerCmd.parse(e, fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos); err != nil {
		return err
	}
	// The pool ends a worker by closing its stdin, or kills it; a signal
	// meant for the server (the worker has its own process group) must not
	// cut a job short, so the worker does not follow ctx's cancellation.
	return worker.ServeProcess(context.WithoutCancel(ctx))
}
