// Package cli is the audex command line: extract, probe, serve, work,
// migrate, submit, status, fetch, cancel and bench (and the hidden isolate
// mode). [Main] takes the arguments, standard streams and a context and
// returns the exit code, so cmd/audex stays a few lines and every command is
// tested in-process.
//
// Conventions: flags may come before or after the positional arguments; each
// command has --help with examples; a wrong command line prints one line to
// standard error and exits 2; a failure prints "audex: <subject>: <reason>"
// (the reason is the typed error's message, never a stack trace or FFmpeg's
// log, which -v shows) and exits 1; an interrupt exits 130 after the work has
// stopped and its partial output is gone (after 'submit --wait', with its
// job canceled on the server). Warnings (an input cut short) go to standard
// error whatever the output. --json gives times in seconds, as the HTTP API
// does. Progress bars appear only when standard error is a terminal.
package cli
