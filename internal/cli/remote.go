package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/audex/audex/internal/client"
	"github.com/audex/audex/jobs"
)

const defaultServer = "http://127.0.0.1:8080"

const remoteEnvHelp = `
The server is --server, else $AUDEX_SERVER, else ` + defaultServer + `; the token
(sent as the apy-token header) is --token, else $AUDEX_TOKEN.`

var submitCmd = &command{
	name:    "submit",
	args:    "INPUT|URL [flags]",
	summary: "submit a job to an audex server",
	help: `
Uploads INPUT (or asks the server to download URL, for http:// and https://
arguments) as an extraction job of a running 'audex serve' or any server
speaking the same job API, and prints the job ID. The extraction flags are
those of 'audex extract' and mean the same: without --duration or --to the
whole audio from --start is extracted.

With --wait (or -o) it follows the job with a progress bar and downloads the
result: to -o, else into the current directory, named after INPUT with the
format's extension (for a URL, the name the server suggests); it prints where
the file went. Interrupting (Ctrl-C) while it waits cancels the job on the
server.
` + remoteEnvHelp + `

Examples:
  audex submit movie.mp4 --start 90 --duration 2        # prints the job ID
  export AUDEX_SERVER=http://127.0.0.1:8080 AUDEX_TOKEN=secret
  audex submit movie.mp4 --format wav --wait            # writes ./movie.wav
  audex submit https://example.com/v.mp4 -o v.mp3 --full
  id=$(audex submit movie.mp4) && audex fetch "$id" -o clip.mp3
`,
}

var statusCmd = &command{
	name:    "status",
	args:    "JOB_ID [--wait] [--json]",
	summary: "show a submitted job's status",
	help: `
Prints a job's status: pending (with its stage, progress or queue position),
successful (with the result's URL) or failed (with the reason). Exits 1 when
the job failed, or when there is no such job.
` + remoteEnvHelp + `

Examples:
  audex status 3q2-QcF1TfWbxV8Yl3Ryxw
  audex status 3q2-QcF1TfWbxV8Yl3Ryxw --wait --json
`,
}

var fetchCmd = &command{
	name:    "fetch",
	args:    "JOB_ID [-o OUTPUT]",
	summary: "download a job's result (waiting for it if needed)",
	help: `
Waits for the job to finish (with a progress bar on a terminal), then
downloads its result to OUTPUT, by default the file name the server suggests
in the current directory, and prints where the file went; "-" writes
standard output.
` + remoteEnvHelp + `

Examples:
  audex fetch 3q2-QcF1TfWbxV8Yl3Ryxw
  audex fetch 3q2-QcF1TfWbxV8Yl3Ryxw -o clip.mp3
`,
}

var cancelCmd = &command{
	name:    "cancel",
	args:    "JOB_ID",
	summary: "cancel a submitted job",
	help: `
Cancels a pending job of an audex server (its DELETE extension): a queued
job is dropped, a running one stopped. It waits until the server reports the
job failed with code "canceled". A job that has already finished is left as
it is, its result kept, and cancel exits 1.
` + remoteEnvHelp + `

Examples:
  audex cancel 3q2-QcF1TfWbxV8Yl3Ryxw
`,
}

func init() {
	submitCmd.run = runSubmit
	statusCmd.run = runStatus
	fetchCmd.run = runFetch
	cancelCmd.run = runCancel
}

// cancelTimeout bounds the cancel request sent after an interrupt, which
// must not keep the person who pressed Ctrl-C waiting for long.
const cancelTimeout = 5 * time.Second

// remoteFlags are the connection flags of submit, status, fetch and cancel.
type remoteFlags struct{ server, token string }

func (r *remoteFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.server, "server", "", "server base `URL` (default $AUDEX_SERVER, else "+defaultServer+")")
	fs.StringVar(&r.token, "token", "", "API `TOKEN` (default $AUDEX_TOKEN)")
}

func (r *remoteFlags) client(e *env) (*client.Client, error) {
	c := &client.Client{Server: r.server, Token: r.token}
	if c.Server == "" {
		c.Server = e.getenv("AUDEX_SERVER")
	}
	if c.Server == "" {
		c.Server = defaultServer
	}
	if !isURL(c.Server) {
		return nil, usagef("--server %q: want http://host:port or https://host", c.Server)
	}
	if c.Token == "" {
		c.Token = e.getenv("AUDEX_TOKEN")
	}
	return c, nil
}

// jobCommand parses the command line of a command on one job (status,
// fetch, cancel): its JOB_ID, and the client its flags describe.
func (r *remoteFlags) jobCommand(cmd *command, e *env, fs *flag.FlagSet, args []string) (string, *client.Client, error) {
	pos, err := cmd.parse(e, fs, args)
	if err != nil {
		return "", nil, err
	}
	if err := exactArgs(pos, "JOB_ID"); err != nil {
		return "", nil, err
	}
	c, err := r.client(e)
	if err != nil {
		return "", nil, err
	}
	return pos[0], c, nil
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

func runSubmit(ctx context.Context, e *env, args []string) error {
	fs := submitCmd.newFlags()
	var jf jobFlags
	jf.register(fs)
	var rf remoteFlags
	rf.register(fs)
	out := fs.String("o", "", "download the result to `FILE` (\"-\": standard output); implies --wait")
	wait := fs.Bool("wait", false, "wait for the job and download its result")
	persistent := fs.Bool("persistent", false, "ask the server to keep the result instead of expiring it")
	asJSON := fs.Bool("json", false, "print the job ID (or, with --wait, the final status) as JSON")
	webhook := fs.String("webhook-url", "", "ask the server to POST the job's final status, signed, to `URL`")
	pos, err := submitCmd.parse(e, fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "INPUT or URL"); err != nil {
		return err
	}
	in := pos[0]
	opts, err := jf.options(*out)
	if err != nil {
		return err
	}
	c, err := rf.client(e)
	if err != nil {
		return err
	}
	if *out == "-" && *asJSON {
		return usagef("--json needs -o FILE: the audio goes to standard output")
	}
	if *out == "-" && isTerminal(e.stdout) {
		return usagef("refusing to write audio to a terminal: use -o FILE or redirect standard output")
	}
	p := client.Params{
		Start: opts.Start, Duration: opts.Duration, Full: opts.Duration == 0,
		Format: opts.Format, Persistent: *persistent,
		Track: opts.Track, Language: opts.Language, SampleRate: opts.SampleRate,
		Channels: opts.Channels, Bitrate: opts.Bitrate, Copy: opts.Copy,
		WebhookURL: *webhook,
	}
	dst := *out
	if *wait || dst != "" {
		if dst == "" && !isURL(in) {
			dst = "-"
			if in != "-" {
				dst = e.inWorkDir(strings.TrimSuffix(filepath.Base(in), filepath.Ext(in)) + opts.Format.Extension())
			}
		}
		if dst != "" && dst != "-" && !isURL(in) && sameFile(in, dst) {
			return usagef("the output would replace %s: use -o", in)
		}
		if dst != "" && dst != "-" {
			// Before the upload, not after the wait.
			if err := checkOutputDir(dst); err != nil {
				return err
			}
		}
	}

	var id string
	if isURL(in) {
		id, err = c.SubmitURL(ctx, in, p)
	} else {
		id, err = submitFile(ctx, e, c, in, p)
	}
	if err != nil {
		return fail(in, err)
	}
	if !*wait && *out == "" {
		if *asJSON {
			return json.NewEncoder(e.stdout).Encode(map[string]string{"job_id": id})
		}
		fmt.Fprintln(e.stdout, id)
		return nil
	}
	st, err := waitJob(ctx, e, c, id)
	if err != nil {
		if ctx.Err() != nil {
			return cancelInterrupted(ctx, c, id, err)
		}
		return fail(id, err)
	}
	if *asJSON {
		if err := printJSON(e.stdout, st); err != nil {
			return err
		}
	}
	if err := st.Err(); err != nil {
		return fail(id, err)
	}
	return download(ctx, e, c, st, dst, !*asJSON)
}

// cancelInterrupted cancels the job an interrupted 'submit --wait' was
// waiting for: nobody is left to fetch its result. When that fails, it says
// how to cancel it by hand.
func cancelInterrupted(ctx context.Context, c *client.Client, id string, err error) error {
	cctx, stop := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer stop()
	if cerr := c.Cancel(cctx, id); cerr != nil {
		return &interruption{err: err, note: fmt.Sprintf("job %s may still be running (cancel failed: %s): 'audex cancel %s'",
			id, message(cerr, ""), id)}
	}
	return &interruption{err: err, note: "job " + id + " canceled"}
}

func submitFile(ctx context.Context, e *env, c *client.Client, in string, p client.Params) (string, error) {
	r := inputReader(ctx, e.stdin)
	size := int64(-1)
	name := "stdin"
	if in != "-" {
		f, err := os.Open(in)
		if err != nil {
			return "", err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
		r, name = f, filepath.Base(in)
	}
	b := newBytesBar(e.stderr, "uploading", size)
	defer b.done()
	return c.SubmitFile(ctx, name, b.reader(r), size, p)
}

// waitJob follows a job until it is final, with a bar on a terminal.
func waitJob(ctx context.Context, e *env, c *client.Client, id string) (*client.Status, error) {
	b := newBar(e.stderr, "waiting")
	defer b.done()
	return c.Wait(ctx, id, func(st *client.Status) {
		b.set(st.Progress/100, stageText(st))
	})
}

func stageText(st *client.Status) string {
	switch {
	case st.QueuePosition > 0:
		return fmt.Sprintf("queued (#%d)", st.QueuePosition)
	case st.Stage != "":
		return st.Stage
	case st.State != "":
		return st.State
	}
	return st.Status
}

// download writes a successful job's result to dst: a file (atomically),
// "-" for standard output, or "" for the server's suggested name.
func download(ctx context.Context, e *env, c *client.Client, st *client.Status, dst string, summary bool) error {
	d, err := c.Open(ctx, st)
	if err != nil {
		return fail(st.JobID, err)
	}
	defer d.Close()
	b := newBytesBar(e.stderr, "downloading", d.Size)
	defer b.done()
	if dst == "-" {
		if _, err := io.Copy(e.stdout, b.reader(d)); err != nil {
			return fail(st.JobID, fmt.Errorf("download: %w", err))
		}
		return nil
	}
	if dst == "" {
		name := d.Filename
		if name == "" {
			name = st.JobID + ".audio"
		}
		dst = e.inWorkDir(name)
	}
	var n int64
	err = writeAtomic(dst, func(w io.Writer) error {
		// net/http reports a body shorter than its Content-Length as
		// io.ErrUnexpectedEOF, so a cut download never lands.
		n, err = io.Copy(w, b.reader(d))
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return &interruption{err: err, note: fmt.Sprintf("the result stays on the server: 'audex fetch %s'", st.JobID)}
		}
		return fail(st.JobID, fmt.Errorf("download: %w", err))
	}
	b.done()
	if st.Truncated() {
		warnTruncated(e, "the input of job "+st.JobID, -1)
	}
	if summary {
		fmt.Fprintf(e.stdout, "%s: %s\n", dst, humanBytes(n))
	}
	return nil
}

// inWorkDir is name in the working directory, absolute when it can be:
// the path printed says where a file went.
func (e *env) inWorkDir(name string) string {
	dir := e.dir
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return name
		}
		dir = wd
	}
	return filepath.Join(dir, name)
}

func runStatus(ctx context.Context, e *env, args []string) error {
	fs := statusCmd.newFlags()
	var rf remoteFlags
	rf.register(fs)
	wait := fs.Bool("wait", false, "wait until the job is no longer pending")
	asJSON := fs.Bool("json", false, "print the status as the server sent it, as JSON")
	id, c, err := rf.jobCommand(statusCmd, e, fs, args)
	if err != nil {
		return err
	}
	var st *client.Status
	if *wait {
		st, err = waitJob(ctx, e, c, id)
	} else {
		st, err = c.Status(ctx, id)
	}
	if err != nil {
		return fail(id, err)
	}
	if *asJSON {
		if err := printJSON(e.stdout, st); err != nil {
			return err
		}
		return fail(id, st.Err())
	}
	printStatus(e.stdout, st)
	if st.Err() != nil {
		return errReported // the status line says why
	}
	return nil
}

func printStatus(w io.Writer, st *client.Status) {
	fmt.Fprintf(w, "%s: %s", st.JobID, st.Status)
	switch st.Status {
	case client.StatusPending:
		fmt.Fprintf(w, ", %s", stageText(st))
		if st.Progress > 0 {
			fmt.Fprintf(w, " %.0f%%", st.Progress)
		}
	case client.StatusSuccessful:
		fmt.Fprintf(w, "\nurl: %s", st.URL)
		if st.ExpiresAt != nil {
			fmt.Fprintf(w, "\nexpires: %s", st.ExpiresAt.Local().Format("2006-01-02 15:04:05 MST"))
		}
	case client.StatusFailed:
		if st.Message != "" {
			fmt.Fprintf(w, ": %s", st.Message)
		}
		if st.Code != "" {
			fmt.Fprintf(w, " (%s)", st.Code)
		}
	}
	fmt.Fprintln(w)
}

func runFetch(ctx context.Context, e *env, args []string) error {
	fs := fetchCmd.newFlags()
	var rf remoteFlags
	rf.register(fs)
	out := fs.String("o", "", "output `FILE`; \"-\" for standard output (default: the server's file name)")
	id, c, err := rf.jobCommand(fetchCmd, e, fs, args)
	if err != nil {
		return err
	}
	if *out == "-" && isTerminal(e.stdout) {
		return usagef("refusing to write audio to a terminal: use -o FILE or redirect standard output")
	}
	if *out != "" && *out != "-" {
		if err := checkOutputDir(*out); err != nil {
			return err
		}
	}
	st, err := waitJob(ctx, e, c, id)
	if err != nil {
		return fail(id, err)
	}
	if err := st.Err(); err != nil {
		return fail(id, err)
	}
	return download(ctx, e, c, st, *out, true)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runCancel(ctx context.Context, e *env, args []string) error {
	fs := cancelCmd.newFlags()
	var rf remoteFlags
	rf.register(fs)
	id, c, err := rf.jobCommand(cancelCmd, e, fs, args)
	if err != nil {
		return err
	}
	// The server's DELETE deletes a finished job with its result: look
	// first. (A job that finishes between the two requests is deleted.)
	st, err := c.Status(ctx, id)
	if err != nil {
		return fail(id, err)
	}
	if st.Done() {
		if st.Code == jobs.CodeCanceled {
			fmt.Fprintf(e.stdout, "%s: already canceled\n", id)
			return nil
		}
		return fail(id, fmt.Errorf("already %s: nothing to cancel", st.Status))
	}
	if err := c.Cancel(ctx, id); err != nil {
		return fail(id, err)
	}
	st, err = c.Wait(ctx, id, nil)
	switch {
	case errors.Is(err, client.ErrJobNotFound):
		return fail(id, errors.New("the job finished before the cancel arrived, and the server deleted it"))
	case err != nil:
		return fail(id, err)
	case st.Code != jobs.CodeCanceled:
		return fail(id, fmt.Errorf("the job ended %s before the cancel arrived", st.Status))
	}
	fmt.Fprintf(e.stdout, "%s: canceled\n", id)
	return nil
}
