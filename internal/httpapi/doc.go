// Package httpapi is audex's HTTP job service: a drop-in replacement for the
// hosted "Extract Audio from Video" job API, over a [jobs.Manager].
//
// # Surface
//
// The hosted API's operations, with its field names and defaults:
//
//	POST   /job/extract/video/audio/file           multipart: video, start_time, duration, output_format, full_audio; ?persistent
//	POST   /job/extract/video/audio/url            the same with video_url (multipart, urlencoded or JSON)
//	GET    /job/extract/video/audio/status/{id}    {"job_id", "status": "pending"|"successful"|"failed", "url", "message"}
//
// and audex's additive extensions: the fields track, language, sample_rate,
// channels, bitrate, copy and webhook_url; times as HH:MM:SS.mmm; status
// fields progress, stage, queue_position, expires_at, code, metadata and
// webhook; the status as a stream of server-sent events (Accept:
// text/event-stream); DELETE /job/extract/video/audio/{id}; waveforms
// (the probe's peaks field, and GET /job/extract/video/audio/peaks/{id}
// for a result, min/max per column from the audio only); signed,
// expiring result links (/results/{id}/{name}?exp=…&sig=…) with ETag, HEAD
// and Range, or, with Config.PresignResults and blobs in S3, a 307 from the
// link to a presigned URL of the bucket that lasts minutes (the link
// re-signs on every request, so a persistent result outlives S3's 7-day
// limit on presigned URLs); GET /webhooks/secret; /healthz, /readyz, /metrics
// (Prometheus) and /openapi.json (the OpenAPI 3.1 document of all of it,
// webhook included, embedded from openapi.json).
//
// # Webhooks and live status
//
// A job submitted with webhook_url gets its final status (the status
// answer's JSON) POSTed there once it is successful, failed, canceled or
// expired, signed with HMAC-SHA256 under its owner's webhook secret (see
// package webhook for the Audex-Signature header, and GET /webhooks/secret
// for the secret, which is derived from the signing key and the owner's
// name). Delivery is the job manager's notifications (jobs.Manager.StartNotifier,
// started by New): stored with the job, at least once, retried with backoff
// for 24 hours, stopped by 410 Gone, on goroutines of their own with short
// timeouts, through the same address guard as video_url. A status request
// that accepts text/event-stream gets the job's changes as server-sent
// events until its final status, bounded by MaxStreams and
// MaxStreamsPerOwner, with heartbeats, and ended on drain (see stream.go).
//
// Requests authenticate with the apy-token header or HTTP Basic against
// configured credentials (see [ParseCredentials]); every failure is the same
// 401. A job belongs to the credential's owner: other owners get the same
// 404 as for an unknown id. A result link is a capability: whoever holds it
// may download until it expires (410 Gone afterwards, 403 when tampered).
//
// Uploads stream to a temporary file in DataDir/uploads (never to memory),
// bounded by MaxUploadBytes (413) and an inactivity deadline (408), and are
// removed on every failure, including a client that disconnects; an
// accepted upload is moved to the job (jobs.Request.MoveInput), not copied. A full
// queue answers 429 and an unavailable store 503, both with Retry-After and
// nothing stored. video_url inputs are fetched by package fetch: bounded
// size, time and redirects, and no loopback, private or link-local
// addresses unless AllowPrivateFetch.
//
// # Many replicas
//
// With a shared store (Config.Store postgres://…, Config.Blobs an S3
// bucket), any number of servers answer for the same jobs, and a client
// cannot tell which one it reached. What they share, and how:
//
//   - jobs, the queue (its bound is global), stages, progress and cancels,
//     through the store: a status stream on one replica follows a job that
//     another node runs (jobs.Manager.Changed fires for every node's
//     changes), and DELETE on any replica stops the extraction wherever it
//     runs;
//   - inputs and results, through the bucket: a result link downloads
//     through any replica, streamed or redirected (PresignResults);
//   - everything derived from Config.SigningKey, which every replica must
//     be given alike (a shared store without one is refused,
//     ErrNoSigningKey): result links (one replica's link is valid on all)
//     and the owners' webhook secrets (GET /webhooks/secret gives the same
//     answer everywhere). Nothing else is derived from a key;
//   - webhook deliveries, the store's notifications: a replica's notifier
//     leases each one it attempts, so one replica at a time delivers a
//     message, and its link starts with the host the job was submitted
//     to, whichever replica sends it.
//
// What stays with each replica: the uploads it is receiving (in DataDir),
// the limits SubmitRate and SubmitBurst (per owner per replica: N replicas
// admit up to N times the rate) and MaxStreams and MaxStreamsPerOwner;
// /readyz (this replica can reach the store and the bucket, and has room
// for uploads: an API-only replica is ready with no work node up); and
// /metrics. There the HTTP counters (requests, uploads, result bytes and
// redirects, webhook attempts, streams and their reads) count this
// replica's work, and audex_workers this node's runners (none on an
// API-only replica, whose Workers is jobs.NoWorkers); audex_jobs,
// audex_queue_depth and the job histograms describe every job in the
// store, each replica observing those that finished since it started:
// read them from one replica, do not sum them across replicas.
//
// # Use
//
// A command runs the whole service with [Run] (or [Serve] on a listener of
// its own), which creates the job manager on Config.DataDir, serves, and on
// context cancellation drains: readiness fails and submissions get 503 at
// once, in-flight requests and running jobs get Config.DrainTimeout, and jobs
// cut off are re-queued for the next start.
//
//	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
//	defer stop()
//	creds, err := httpapi.LoadCredentialsFile("/etc/audex/credentials")
//	...
//	err = httpapi.Run(ctx, httpapi.Config{Addr: ":8080", DataDir: "/var/lib/audex", Credentials: creds})
//
// A program that owns its jobs.Manager mounts the handler itself with [New].
package httpapi
