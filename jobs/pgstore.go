package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// pgStore is the shared store: PostgreSQL, where River (its tables beside
// audex's own) dispatches the jobs. The table audex_jobs holds one row per
// job, keyed by its id: the stored record (the versioned JSON of stored.go,
// the truth) and, beside it, the columns the queries need: seq (the queue
// order), state, node (the node running or fetching the job), river_job
// (the River job that dispatches it now), cancel_requested, stage and
// progress (what the running job's node last reported), notice_at (when
// its pending notification is eligible, unix nanoseconds). audex_nodes
// holds each node's last heartbeat.
//
// A River job (args {id}; kind audex_extract, or audex_fetch for a URL job
// without its input) is inserted in the same transaction that makes a job
// dispatchable: submitted, fetched, re-queued. River's states are not
// audex's: a worker that gets a River job claims the row (start, takeFetch)
// only if the row is still waiting for that very River job, so a stale or
// duplicate one (such as one River rescued long after its node died, the
// job re-queued since with a River job of its own) changes nothing.
//
// Every change of a job's state is announced on the channel
// audex_changed (pg_notify in the changing transaction; delivered at its
// commit), on which every node listens to wake its Wait, Changed and
// streams. Progress is not: its readers poll it.
type pgStore struct {
	pool  *pgxpool.Pool
	river *river.Client[pgx.Tx]
	node  string
}

// The River job kinds and their queues.
const (
	kindExtract = "audex_extract"
	kindFetch   = "audex_fetch"
	// changedChannel is the LISTEN/NOTIFY channel of job changes.
	changedChannel = "audex_changed"
)

// Advisory lock keys (PostgreSQL's one 64-bit space; "audex" and a number).
const (
	lockMigrate int64 = 0x61756465780001
	lockQueue   int64 = 0x61756465780002
	lockSweep   int64 = 0x61756465780003
)

// extractArgs and fetchArgs are the River jobs' arguments.
type extractArgs struct {
	ID string `json:"id"`
}

func (extractArgs) Kind() string { return kindExtract }

func (extractArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: kindExtract} }

type fetchArgs struct {
	ID string `json:"id"`
}

func (fetchArgs) Kind() string { return kindFetch }

func (fetchArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: kindFetch} }

// pgSchema is audex's own schema. Every statement is idempotent.
const pgSchema = `
CREATE TABLE IF NOT EXISTS audex_jobs (
	id               text PRIMARY KEY,
	seq              bigserial NOT NULL UNIQUE,
	state            text NOT NULL,
	node             text,
	river_job        bigint,
	cancel_requested boolean NOT NULL DEFAULT false,
	stage            text NOT NULL DEFAULT '',
	progress         double precision NOT NULL DEFAULT 0,
	notice_at        bigint,
	data             jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS audex_jobs_queued ON audex_jobs (seq) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS audex_jobs_held ON audex_jobs (node) WHERE node IS NOT NULL;
CREATE INDEX IF NOT EXISTS audex_jobs_notice ON audex_jobs (notice_at) WHERE notice_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS audex_nodes (
	name    text PRIMARY KEY,
	seen_at timestamptz NOT NULL
);
`

// Migrate applies River's migrations and audex's schema to the PostgreSQL
// database at store (a postgres:// URL), as New does at start. It is
// idempotent, and safe to run from many nodes at once.
func Migrate(ctx context.Context, store string) error {
	if !SharedStore(store) {
		return fmt.Errorf("%w: not a postgres:// URL", ErrInvalidRequest)
	}
	pool, err := pgxpool.New(ctx, store)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	defer pool.Close()
	return migrate(ctx, pool)
}

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	err := func() error {
		// River's migrations each take a transaction of their own (one
		// adds an enum value the next uses): a session lock on a
		// connection of its own keeps other nodes out meanwhile.
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockMigrate); err != nil {
			return err
		}
		defer func() {
			if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockMigrate); err != nil {
				conn.Conn().Close(context.WithoutCancel(ctx)) // the lock goes with the session
			}
		}()
		mig, err := rivermigrate.New(riverpgxv5.New(pool), nil)
		if err != nil {
			return err
		}
		if _, err := mig.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return err
		}
		_, err = pool.Exec(ctx, pgSchema)
		return err
	}()
	if err != nil {
		return fmt.Errorf("%w: jobs: migrate the store: %w", ErrUnavailable, err)
	}
	return nil
}

// openPostgres connects to the database at url, migrates it and makes the
// River client of rc (insert-only without rc.Queues).
func openPostgres(ctx context.Context, url, node string, rc *river.Config) (*pgStore, error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%w: jobs: store: %w", ErrInvalidRequest, err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default (4 on a small machine) is too few: River's
		// listener, producers and completer, and every worker's
		// transactions share the pool.
		n := int32(poolSpare)
		for _, q := range rc.Queues {
			n += int32(q.MaxWorkers)
		}
		pcfg.MaxConns = max(pcfg.MaxConns, n)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("%w: jobs: store: %w", ErrInvalidRequest, err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	client, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("jobs: river client: %w", err)
	}
	return &pgStore{pool: pool, river: client, node: node}, nil
}

// poolSpare is how many connections a node's pool has beside one per
// worker and fetcher (unless the URL sets pool_max_conns).
const poolSpare = 8

// pgTimeout bounds one store call: the store interface takes no context.
const pgTimeout = 30 * time.Second

func (s *pgStore) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), pgTimeout)
}

// pgRow is a row's columns beside the record that a change may set.
type pgRow struct {
	node string // "" is NULL
	// redispatch: insert a new River job even if the job's kind of
	// dispatch did not change (the one it had went with a dead node).
	redispatch bool
}

// dispatchKind is the River job a record waits for: none unless queued.
func dispatchKind(r *record) string {
	switch {
	case r.State != StateQueued:
		return ""
	case r.needsFetch():
		return kindFetch
	}
	return kindExtract
}

// dispatch inserts the River job that r waits for, in tx.
func (s *pgStore) dispatch(ctx context.Context, tx pgx.Tx, r *record) error {
	var args river.JobArgs = extractArgs{ID: r.ID}
	if r.needsFetch() {
		args = fetchArgs{ID: r.ID}
	}
	res, err := s.river.InsertTx(ctx, tx, args, nil)
	if err != nil {
		return fmt.Errorf("jobs: dispatch %s: %w", r.ID, err)
	}
	r.riverJob = res.Job.ID
	_, err = tx.Exec(ctx, "UPDATE audex_jobs SET river_job = $2 WHERE id = $1", r.ID, res.Job.ID)
	return err
}

func announce(ctx context.Context, tx pgx.Tx, id string) error {
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", changedChannel, id)
	return err
}

func noticeAt(r *record) *int64 {
	t := r.Notice.eligible()
	if t.IsZero() {
		return nil
	}
	n := max(t.UnixNano(), 0)
	return &n
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *pgStore) enqueue(r *record, maxQueued int) error {
	ctx, cancel := s.ctx()
	defer cancel()
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One enqueue at a time in the whole cluster: the count is exact.
		// The three statements go in one round trip (a batch runs them in
		// order: the lock is held before the count).
		var b pgx.Batch
		b.Queue("SELECT pg_advisory_xact_lock($1)", lockQueue)
		b.Queue("SELECT count(*) FROM audex_jobs WHERE state = 'queued'")
		b.Queue("SELECT nextval(pg_get_serial_sequence('audex_jobs', 'seq'))")
		br := tx.SendBatch(ctx, &b)
		var n int
		var seq int64
		_, err := br.Exec()
		if err == nil {
			err = br.QueryRow().Scan(&n)
		}
		if err == nil {
			err = br.QueryRow().Scan(&seq)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if n >= maxQueued {
			return ErrQueueFull
		}
		r.Seq, r.State = uint64(seq), StateQueued
		data, err := encodeRecord(r)
		if err != nil {
			return fmt.Errorf("jobs: encode record %s: %w", r.ID, err)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO audex_jobs (id, seq, state, notice_at, data) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id) DO NOTHING`, r.ID, seq, r.State, noticeAt(r), data)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("jobs: duplicate job id %s", r.ID)
		}
		if err := s.dispatch(ctx, tx, r); err != nil {
			return err
		}
		r.position = n + 1
		return announce(ctx, tx, r.ID)
	})
}

// change applies fn to a record and its row's columns, under the row's
// lock, and stores the result, keeping the columns in step: a job that
// leaves running (or gets its input) is no longer held by a node, and one
// that becomes dispatchable gets its River job in the same transaction.
func (s *pgStore) change(id string, fn func(*record, *pgRow) error) (*record, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var r *record
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var data []byte
		var node *string
		var riverJob *int64
		var cancelReq bool
		var stage string
		var progress float64
		err := tx.QueryRow(ctx, `SELECT data, node, river_job, cancel_requested, stage, progress
			FROM audex_jobs WHERE id = $1 FOR UPDATE`, id).Scan(&data, &node, &riverJob, &cancelReq, &stage, &progress)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		rec, err := decodeRecord(data)
		if err != nil {
			return fmt.Errorf("jobs: decode record %s: %w", id, err)
		}
		rec.cancelRequested, rec.stage, rec.progress = cancelReq, Stage(stage), progress
		if riverJob != nil {
			rec.riverJob = *riverJob
		}
		row := pgRow{}
		if node != nil {
			row.node = *node
		}
		was, wasFetch, wasKind := rec.State, rec.needsFetch(), dispatchKind(rec)
		if err := fn(rec, &row); err != nil {
			return err
		}
		if rec.ID != id {
			return fmt.Errorf("jobs: update changed the id of %s", id)
		}
		if rec.State != was || rec.needsFetch() != wasFetch {
			if rec.State != StateRunning {
				row.node = ""
			}
			rec.stage, rec.progress = "", 0
		}
		if rec.State != was {
			rec.cancelRequested = false
		}
		data, err = encodeRecord(rec)
		if err != nil {
			return fmt.Errorf("jobs: encode record %s: %w", id, err)
		}
		_, err = tx.Exec(ctx, `UPDATE audex_jobs SET state = $2, node = $3, cancel_requested = $4, stage = $5,
			progress = $6, notice_at = $7, data = $8 WHERE id = $1`,
			id, rec.State, nullable(row.node), rec.cancelRequested, rec.stage, rec.progress, noticeAt(rec), data)
		if err != nil {
			return err
		}
		if k := dispatchKind(rec); k != "" && (k != wasKind || row.redispatch) {
			if err := s.dispatch(ctx, tx, rec); err != nil {
				return err
			}
		}
		if rec.State == StateQueued {
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM audex_jobs WHERE state = 'queued' AND seq <= $1", int64(rec.Seq)).Scan(&rec.position); err != nil {
				return err
			}
		}
		r = rec
		return announce(ctx, tx, id)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (s *pgStore) update(id string, fn func(*record) error) (*record, error) {
	return s.change(id, func(r *record, _ *pgRow) error { return fn(r) })
}

// errStale: a River job that the row no longer waits for.
var errStale = errors.New("jobs: stale dispatch")

// start claims a job for the extraction dispatched by River job riverJob,
// on this node: nil when the row does not wait for that River job (stale,
// or a duplicate), or is not queued with its input.
func (s *pgStore) start(id string, riverJob int64, now time.Time) (*record, error) {
	r, err := s.change(id, func(r *record, row *pgRow) error {
		if r.riverJob != riverJob || dispatchKind(r) != kindExtract {
			return errStale
		}
		row.node = s.node
		return r.start(now)
	})
	if errors.Is(err, errStale) || errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return r, err
}

// takeFetch marks a URL job as being fetched on this node, for River job
// riverJob: nil when the row does not wait for that River job.
func (s *pgStore) takeFetch(id string, riverJob int64) (*record, error) {
	r, err := s.change(id, func(r *record, row *pgRow) error {
		if r.riverJob != riverJob || dispatchKind(r) != kindFetch {
			return errStale
		}
		row.node = s.node
		return nil
	})
	if errors.Is(err, errStale) || errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return r, err
}

// report writes a running job's stage and progress, if this node runs it.
// It announces nothing: Changed is not about progress, which its readers
// poll.
func (s *pgStore) report(id string, stage Stage, progress float64) error {
	ctx, cancel := s.ctx()
	defer cancel()
	_, err := s.pool.Exec(ctx, `UPDATE audex_jobs SET stage = $2, progress = $3
		WHERE id = $1 AND state = 'running' AND node = $4`, id, stage, progress, s.node)
	return err
}

// requestCancel marks a running job to be canceled and returns the River
// job running it; marked is false when the job is not running.
func (s *pgStore) requestCancel(id string) (riverJob int64, marked bool, err error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var job *int64
	err = s.pool.QueryRow(ctx, `UPDATE audex_jobs SET cancel_requested = true
		WHERE id = $1 AND state = 'running' RETURNING river_job`, id).Scan(&job)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, err
	case job != nil:
		riverJob = *job
	}
	return riverJob, true, nil
}

// heldBy returns the jobs (id -> node) held by nodes without a heartbeat
// for deadAfter, or by the node named self.
func (s *pgStore) heldBy(deadAfter time.Duration, self string) (map[string]string, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT id, node FROM audex_jobs j WHERE node IS NOT NULL AND (node = $2 OR NOT EXISTS
		(SELECT 1 FROM audex_nodes n WHERE n.name = j.node AND n.seen_at > now() - make_interval(secs => $1)))`,
		deadAfter.Seconds(), self)
	if err != nil {
		return nil, err
	}
	held := map[string]string{}
	var id, node string
	_, err = pgx.ForEachRow(rows, []any{&id, &node}, func() error {
		held[id] = node
		return nil
	})
	return held, err
}

// ping writes this node's heartbeat: a durable write no record shows.
func (s *pgStore) ping() error {
	ctx, cancel := s.ctx()
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO audex_nodes (name, seen_at) VALUES ($1, now())
		ON CONFLICT (name) DO UPDATE SET seen_at = now()`, s.node)
	return err
}

// leave removes this node's heartbeat (at a clean close).
func (s *pgStore) leave() error {
	ctx, cancel := s.ctx()
	defer cancel()
	_, err := s.pool.Exec(ctx, "DELETE FROM audex_nodes WHERE name = $1", s.node)
	return err
}

// alone runs fn unless another node is running a function under the same
// lock key; it reports whether fn ran.
func (s *pgStore) alone(key int64, fn func()) (bool, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil || !got {
		return false, err
	}
	defer func() {
		ctx, cancel := s.ctx()
		defer cancel()
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
			// A session lock must not outlive its use in the pool.
			conn.Conn().Close(ctx)
		}
	}()
	fn()
	return true, nil
}

// scanRecords reads rows of (data, stage, progress, cancel_requested,
// river_job, position).
func scanRecords(rows pgx.Rows) ([]*record, error) {
	var rs []*record
	var data []byte
	var stage string
	var progress float64
	var cancelReq bool
	var riverJob *int64
	var pos int
	_, err := pgx.ForEachRow(rows, []any{&data, &stage, &progress, &cancelReq, &riverJob, &pos}, func() error {
		r, err := decodeRecord(data)
		if err != nil {
			return fmt.Errorf("jobs: decode record: %w", err)
		}
		r.stage, r.progress, r.cancelRequested, r.position = Stage(stage), progress, cancelReq, pos
		if riverJob != nil {
			r.riverJob = *riverJob
		}
		rs = append(rs, r)
		return nil
	})
	return rs, err
}

func (s *pgStore) get(id string) (*record, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT data, stage, progress, cancel_requested, river_job,
		CASE WHEN state = 'queued' THEN (SELECT count(*) FROM audex_jobs q WHERE q.state = 'queued' AND q.seq <= j.seq) ELSE 0 END
		FROM audex_jobs j WHERE id = $1`, id)
	if err != nil {
		return nil, err
	}
	rs, err := scanRecords(rows)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, ErrNotFound
	}
	return rs[0], nil
}

func (s *pgStore) list() ([]*record, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT data, stage, progress, cancel_requested, river_job,
		CASE WHEN state = 'queued' THEN count(*) FILTER (WHERE state = 'queued') OVER (ORDER BY seq) ELSE 0 END
		FROM audex_jobs ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	return scanRecords(rows)
}

func (s *pgStore) queued() (int, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var n int
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM audex_jobs WHERE state = 'queued'").Scan(&n)
	return n, err
}

func (s *pgStore) remove(id string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM audex_jobs WHERE id = $1", id); err != nil {
			return err
		}
		return announce(ctx, tx, id)
	})
}

func (s *pgStore) claimNotices(now time.Time, max int, lease time.Duration) ([]*record, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var rs []*record
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rs = nil
		rows, err := tx.Query(ctx, `SELECT data, stage, progress, cancel_requested, river_job, 0 FROM audex_jobs
			WHERE notice_at <= $1 ORDER BY notice_at LIMIT $2 FOR UPDATE SKIP LOCKED`, now.UnixNano(), max)
		if err != nil {
			return err
		}
		due, err := scanRecords(rows)
		if err != nil {
			return err
		}
		for _, r := range due {
			claimed := r.claimNotice(now, lease) == nil
			data, err := encodeRecord(r)
			if err != nil {
				return fmt.Errorf("jobs: encode record %s: %w", r.ID, err)
			}
			// An unclaimable one had its notice_at out of step: put it right.
			if _, err := tx.Exec(ctx, "UPDATE audex_jobs SET notice_at = $2, data = $3 WHERE id = $1", r.ID, noticeAt(r), data); err != nil {
				return err
			}
			if claimed {
				rs = append(rs, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rs, nil
}

func (s *pgStore) nextNotice() (time.Time, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var n *int64
	if err := s.pool.QueryRow(ctx, "SELECT min(notice_at) FROM audex_jobs").Scan(&n); err != nil || n == nil {
		return time.Time{}, err
	}
	return time.Unix(0, *n), nil
}

func (s *pgStore) close() error {
	s.pool.Close()
	return nil
}
