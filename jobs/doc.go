// Package jobs runs audio extractions as durable jobs: a program submits an
// input with extract.Options, gets a job ID at once, polls or waits for the
// job, and reads the result file later. The HTTP service is a thin layer
// over it; programs can embed it directly.
//
//	m, err := jobs.New(jobs.Config{Dir: "/var/lib/audex"})
//	...
//	job, err := m.SubmitFile(ctx, "upload.mp4", jobs.Request{Options: extract.Options{Format: extract.M4A}})
//	job, err = m.Wait(ctx, job.ID)
//	f, job, err := m.OpenResult(ctx, job.ID)
//
// A job is queued, then running (stages probing, extracting, storing),
// then succeeded, failed or canceled; a URL job is queued in stage fetching
// first, while a small pool of its own (Config.Fetchers) downloads its
// input and stores it, and only then waits for a runner, so that a slow
// server never holds an extraction; a succeeded job that is not
// persistent turns expired when its retention ends. A bounded pool of
// runners (Config.Workers of them) runs jobs in submission order; at most
// Config.QueueSize may wait, and a submission beyond that fails at once with
// ErrQueueFull, storing nothing. A caller still receiving an input (an HTTP
// upload, say) can hold a place for it first with Reserve, so that a full
// queue is known before the input's bytes are read. Each attempt has a
// timeout. Job contexts
// come from the manager, never from the submitter's context.
//
// # Input files
//
// SubmitFile leaves the caller's file where it is and as it is: the data
// directory gets a hard link to it when both are on one file system, else
// a copy, and the manager only ever removes that link or copy of its own
// (when the job ends, is deleted or expires), never the caller's name. A
// link shares the file's content: a file changed in place before the job
// has read it is read as changed. Request.MoveInput takes the file itself
// instead (a rename), for files made only to be submitted, such as the HTTP
// service's spooled uploads. Only non-empty regular files are taken; a
// directory, device or FIFO is refused with ErrInvalidRequest.
//
// # Guarantees
//
// Accepted means durable: Submit returns only after the input file is
// stored durably in the blobs (synced into the data directory by default)
// and the job's record is committed (and fsynced) in the store. A job that Submit accepted is never lost, across
// crashes, SIGKILL and restarts: it ends succeeded, failed, canceled or
// expired, or is deleted by the caller.
//
// Execution is at least once; completion is recorded exactly once. A job
// interrupted by a crash (the process died) runs again from the start on the
// next New on the same data directory, so the extractor may run more than
// once for one job, but the job succeeds at most once and its result lives
// at one path (results/<id>/audio.<ext>), written under a temporary name and
// renamed into place. Once a job is final in the store it never runs again.
//
// What survives a crash or restart: queued jobs stay queued and run;
// running jobs go back to the queue and Job.Attempts counts the new start;
// a job that was running during two process deaths (or whose extractor
// reported ErrWorkerCrashed twice) fails with code worker_crashed instead of
// being retried again, so that a poison input cannot crash the service in a
// loop. Finished jobs keep their result files and expiry times. Shutdown
// and Close are not crashes: the jobs they interrupt are re-queued without
// counting against that limit. At start-up New removes every temporary
// file, partial output and input that no queued job refers to.
//
// Cancel and Delete of a running job cancel its context; the runner takes
// no other job until the extraction has really returned. A panic inside a
// job fails that job with code internal and logs the stack; the runner goes
// on.
//
// # Expiry
//
// A non-persistent job's result is kept for Config.Retention (15 minutes by
// default, or Request.Retention) after the job finished; Job.ExpiresAt says
// until when. From ExpiresAt on, the job reads as expired and OpenResult
// fails with ErrExpired, whether or not the sweeper has run; the sweeper
// (every Config.SweepInterval) then deletes the file. The expired job stays
// visible for Config.ExpiredGrace (24 hours), after which it is forgotten
// and reads as ErrNotFound. Failed and canceled jobs keep their state for
// the same retention plus grace, then are forgotten. Persistent jobs and
// their results are kept until Delete.
//
// # Notifications
//
// A job submitted with Request.Notify (a target opaque to the manager, such
// as a webhook URL) gets a notification when it turns final. The
// notification is stored with the job in the same transaction that makes
// the job final, so it survives crashes and restarts, and a Notifier given
// to StartNotifier delivers it at least once: from goroutines of its own
// (a slow receiver never holds a runner), retried with exponential backoff
// and jitter for NotifierOptions.RetryFor (24 hours by default) unless the
// Notifier rejects it for good (ErrNotificationRejected). Job.Notification
// shows the last attempt and its outcome. Each attempt first claims the
// notification in the store until a lease runs out, and only the claim's
// holder records the outcome: on a store shared by many machines, one of
// them makes each attempt. Receivers drop the copies at-least-once may bring
// by NotificationStatus.ID, the same on every attempt.
//
// # Storage
//
// The data directory holds jobs.db, a bbolt database, and the inputs/,
// results/ and tmp/ directories. bbolt was chosen because it is pure Go (no
// second cgo dependency beside FFmpeg), commits each transaction with an
// fsync, holds an exclusive file lock so only one process can own a data
// directory, and is widely used (etcd). One process owns a data directory;
// a second New on it fails. New takes a directory only where that cannot
// delete anything it did not make: a new or empty directory (dotfiles and
// lost+found aside), which it marks with a .audex-jobs file, or one already
// marked (or holding jobs.db). A directory of other files, named as
// Config.Dir by mistake, is refused with ErrInvalidRequest rather than
// swept. Records are stored in a versioned format of their own, not as the
// package's types: a change to Request or extract.Options does not change
// what is on disk, and records written by earlier versions keep loading.
//
// The store sits behind a narrow internal interface (enqueue, update, get,
// list, remove, ping, and claimNotices and nextNotice for notifications)
// whose every call is one atomic durable step, and every backend passes the
// same conformance suite.
//
// Inputs and results are blobs (Config.Blobs), apart from the records: by
// default files of the data directory (NewDiskBlobs), else any store
// behind the Blobs interface, such as an S3 bucket every machine reaches.
// Either way a submission returns only once its input is put durably in
// the blobs and its record is committed, and a result is put there before
// the job is recorded succeeded; on a failure of either, nothing of the
// job is left. The extraction reads and writes local files in the data
// directory's tmp/ when the blobs are elsewhere. The package blobtest is
// the conformance suite every Blobs passes. Like the embedded store, the
// blobs under one prefix belong to one manager: at start it deletes every
// input and result no job of its own needs, so two managers on embedded
// stores must never share them (the nodes of a shared store do: see
// below).
//
// # Many nodes: the PostgreSQL store
//
// With Config.Store set to a postgres:// URL, managers on many machines
// (nodes) share one queue. Each job is a row of audex's own table
// (audex_jobs: the same versioned record, plus the columns the queries
// need), and River (github.com/riverqueue/river, in the same database)
// dispatches it: a River job is inserted in the transaction that makes a
// job runnable (submitted, fetched, re-queued), and the River worker that
// gets it claims the row for this node, or does nothing when the row no
// longer waits for that River job (a duplicate, or one River rescued late).
// River's states are not the job's: extraction failures are final (the
// River job is canceled), and only a node's death re-runs a job. URL jobs
// are fetched by a River queue of their own (Config.Fetchers per node),
// once. New and Migrate apply River's migrations and audex's schema.
//
// Any node answers for any job: Get, List, Wait, Changed, Cancel, Delete
// and OpenResult behave as on the embedded store. The running node writes
// the stage and progress to the job's row every 250 ms while they change
// (readers poll them, as on one node), and every change of a job's state is
// announced on a LISTEN/NOTIFY channel that wakes Changed and Wait on all
// nodes. Cancel and Delete mark the row and cancel the River job, which
// reaches the node running it at once; Delete returns once that node's run
// has ended, and no result is left.
//
// Nodes write a heartbeat every 5 s; a node silent for 20 s is dead, and
// another node settles its jobs as a crash would: re-queued (crash count
// +1) or, at the second death, failed worker_crashed; a fetch it held starts
// again elsewhere. So a dead node's job runs again within about 25 s,
// whatever its timeout. The dead node's own attempt, should it come back,
// can no longer record anything. Shutdown re-queues the jobs it interrupts
// without counting a crash, as on the embedded store.
//
// The queue bound (Config.QueueSize) is global: a submission counts the
// queued jobs of the whole cluster under a lock, so the bound holds
// exactly. Reservations (Reserve, for uploads still arriving) are counted
// by the node that holds them only: an upload a node reserved room for may
// still be refused with ErrQueueFull when its job is stored, if uploads
// through other nodes filled the queue meanwhile. Expiry runs on every node's Config.SweepInterval, one
// node at a time (an advisory lock). A shared store needs shared blobs
// (Config.Blobs, such as S3); Config.Dir then holds the node's temporary
// files only. At start a node deletes only the blobs no job refers to that
// are over an hour old: a younger one may be another node's, put just
// before the record that refers to it commits.
package jobs
