package jobs

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/audex/audex/internal/testsvc"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// riverBackend is River's dispatch on a shared store, as the suite sees
// it: River hands out its available jobs of a kind oldest first, each
// once, and the worker that gets one claims the row for it (start,
// takeFetch), which a stale one does not.
func riverBackend(open func(t *testing.T) store) storeBackend {
	next := func(t *testing.T, s store, kind string, take func(ps *pgStore, id string, job int64) (*record, error)) *record {
		t.Helper()
		ps := s.(*pgStore)
		ctx := context.Background()
		rows, err := ps.pool.Query(ctx, `SELECT id, args->>'id' FROM river_job WHERE kind = $1 AND state = 'available'
			ORDER BY priority, scheduled_at, id`, kind)
		require.NoError(t, err)
		type handout struct {
			Job int64
			ID  string
		}
		hs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[handout])
		require.NoError(t, err)
		for _, h := range hs {
			_, err := ps.pool.Exec(ctx, "UPDATE river_job SET state = 'completed', finalized_at = now() WHERE id = $1", h.Job)
			require.NoError(t, err)
			r, err := take(ps, h.ID, h.Job)
			require.NoError(t, err)
			if r != nil {
				return r
			}
		}
		return nil
	}
	return storeBackend{
		open: open,
		claim: func(t *testing.T, s store, now time.Time) *record {
			return next(t, s, kindExtract, func(ps *pgStore, id string, job int64) (*record, error) { return ps.start(id, job, now) })
		},
		fetch: func(t *testing.T, s store) *record {
			return next(t, s, kindFetch, func(ps *pgStore, id string, job int64) (*record, error) { return ps.takeFetch(id, job) })
		},
	}
}

// TestPostgresStore runs the store conformance suite on PostgreSQL, with
// River's real schema.
func TestPostgresStore(t *testing.T) {
	t.Parallel()
	pg := testsvc.StartPostgres(t)
	runStoreSuite(t, riverBackend(func(t *testing.T) store {
		s, err := openPostgres(context.Background(), pg.NewDatabase(t), "suite", &river.Config{Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		return s
	}))
}

// cluster is nodes (Managers) on one PostgreSQL database, each with a data
// directory of its own, sharing their blobs on one directory as they would
// an S3 bucket: several machines, simulated in one process.
type cluster struct {
	t     *testing.T
	url   string
	blobs Blobs
	clock *clock
	logs  *syncBuffer
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	pg := testsvc.StartPostgres(t)
	blobs, err := NewDiskBlobs(t.TempDir())
	require.NoError(t, err)
	return &cluster{t: t, url: pg.NewDatabase(t), blobs: blobs, clock: &clock{t: t0}, logs: &syncBuffer{}}
}

// node is one Manager of the cluster, with its own fake extractor.
type node struct {
	m  *Manager
	fx *fake
}

// node starts a node named name: one worker, a fast heartbeat (a node is
// dead after a second without one), changed by mod.
func (c *cluster) node(name string, mod func(*Config)) *node {
	c.t.Helper()
	fx := newFake()
	cfg := Config{
		Dir:           c.t.TempDir(),
		Store:         c.url,
		Node:          name,
		Blobs:         c.blobs,
		Workers:       1,
		Extractor:     fx,
		Now:           c.clock.Now,
		SweepInterval: time.Hour, // tests call sweepTurn themselves
		Logger:        slog.New(slog.NewTextHandler(c.logs, nil)).With("node", name),
		heartbeat:     100 * time.Millisecond,
		deadAfter:     time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	m, err := New(cfg)
	require.NoError(c.t, err)
	n := &node{m: m, fx: fx}
	c.t.Cleanup(func() {
		select {
		case <-fx.gate:
		default:
			fx.open()
		}
		m.Close()
	})
	return n
}

func apiOnly(c *Config) { c.Workers = NoWorkers }

func (n *node) submit(t *testing.T, input string) Job {
	t.Helper()
	j, err := n.m.SubmitReader(context.Background(), strings.NewReader(input), Request{})
	require.NoError(t, err)
	return j
}

func (n *node) wait(t *testing.T, id string) Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	j, err := n.m.Wait(ctx, id)
	require.NoError(t, err)
	return j
}

func (n *node) waitStarted(t *testing.T, id string, calls int) {
	t.Helper()
	require.Eventually(t, func() bool { return n.fx.callsOf(id) >= calls }, 30*time.Second, time.Millisecond)
}

// record reads a job's stored record (Crashes is not in Job).
func (n *node) record(t *testing.T, id string) *record {
	t.Helper()
	r, err := n.m.store.get(id)
	require.NoError(t, err)
	return r
}

func (c *cluster) resultBlobs(t *testing.T) []BlobInfo {
	t.Helper()
	bs, err := c.blobs.List(context.Background(), resultsDir+"/")
	require.NoError(t, err)
	return bs
}

// TestSharedStore: an API-only node takes the submissions and a worker
// node runs them; the API node sees the run's stage and progress, reads
// the result, and its Cancel and Delete stop the run on the other node,
// leaving no result behind. An unknown store or a shared store without
// shared blobs is refused.
func TestSharedStore(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	api := c.node("api", apiOnly)
	work := c.node("work", nil)

	ok := api.submit(t, "ok")
	j := api.wait(t, ok.ID)
	require.Equal(t, StateSucceeded, j.State)
	assert.Equal(t, 1, work.fx.callsOf(ok.ID))
	blob, _, err := api.m.OpenResult(context.Background(), ok.ID)
	require.NoError(t, err)
	assert.Equal(t, "audio:"+ok.ID, readAll(t, blob))
	require.NoError(t, blob.Close())

	// Progress written on the worker node shows on the API node.
	half := api.submit(t, "half")
	work.waitStarted(t, half.ID, 1)
	start := time.Now()
	require.Eventually(t, func() bool {
		j, err := api.m.Get(half.ID)
		return err == nil && j.State == StateRunning && j.Stage == StageExtracting && j.Progress == 0.5
	}, 30*time.Second, 10*time.Millisecond)
	t.Logf("progress across nodes: seen after %v", time.Since(start))

	// Cancel on the API node ends the run on the worker node.
	start = time.Now()
	_, err = api.m.Cancel(half.ID)
	require.NoError(t, err)
	j = api.wait(t, half.ID)
	t.Logf("cancel across nodes: canceled after %v", time.Since(start))
	assert.Equal(t, StateCanceled, j.State)
	assert.Equal(t, CodeCanceled, j.Error.Code)

	// Delete on the API node: returns once the other node's run ended.
	del := api.submit(t, "half")
	work.waitStarted(t, del.ID, 1)
	require.NoError(t, api.m.Delete(del.ID))
	_, err = api.m.Get(del.ID)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = work.m.Get(del.ID)
	require.ErrorIs(t, err, ErrNotFound)
	var keys []string
	for _, b := range c.resultBlobs(t) {
		keys = append(keys, b.Key)
	}
	assert.Equal(t, []string{resultKey(ok.ID, "audio.mp3")}, keys, "only the succeeded job's result")

	st, err := api.m.Stats()
	require.NoError(t, err)
	assert.Zero(t, st.Workers)

	_, err = New(Config{Dir: t.TempDir(), Store: "mysql://x"})
	require.ErrorIs(t, err, ErrInvalidRequest)
	_, err = New(Config{Dir: t.TempDir(), Store: c.url})
	require.ErrorIs(t, err, ErrInvalidRequest, "a shared store with blobs on this node's disk")
	_, err = New(Config{Dir: t.TempDir(), Workers: NoWorkers})
	require.ErrorIs(t, err, ErrInvalidRequest, "no workers on the embedded store")
}

// TestSharedShutdownRequeues: a node shut down while it runs a job puts
// the job back without counting a crash, and another node runs it.
func TestSharedShutdownRequeues(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	api := c.node("api", apiOnly)
	b := c.node("b", nil)
	j := api.submit(t, "block")
	b.waitStarted(t, j.ID, 1)
	other := c.node("c", nil)
	other.fx.open()

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace: the running job is interrupted
	require.ErrorIs(t, b.m.Shutdown(ctx), context.Canceled)
	j = api.wait(t, j.ID)
	assert.Equal(t, StateSucceeded, j.State)
	assert.Equal(t, 2, j.Attempts)
	assert.Equal(t, 1, other.fx.callsOf(j.ID))
	assert.Zero(t, api.record(t, j.ID).Crashes, "a shutdown is no crash")
}

// TestSharedReaper: a node that stops answering (its heartbeat silenced)
// has its running job re-run on another node, counted as a crash; at the
// second death the job fails worker_crashed. The silenced nodes' own
// attempts can no longer record anything.
func TestSharedReaper(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	api := c.node("api", apiOnly)
	b := c.node("b", nil)
	j := api.submit(t, "block")
	b.waitStarted(t, j.ID, 1)

	second := c.node("c", nil)
	start := time.Now()
	b.m.silence()
	second.waitStarted(t, j.ID, 1)
	t.Logf("a silent node's job ran again elsewhere after %v", time.Since(start))
	r := api.record(t, j.ID)
	assert.Equal(t, StateRunning, r.State)
	assert.Equal(t, 1, r.Crashes)
	assert.Equal(t, 2, r.Attempts)

	second.m.silence()
	j = api.wait(t, j.ID)
	assert.Equal(t, StateFailed, j.State)
	assert.Equal(t, CodeWorkerCrashed, j.Error.Code)
	assert.Equal(t, 2, api.record(t, j.ID).Crashes)

	// The stale attempts end (the gates open) and change nothing.
	b.fx.open()
	second.fx.open()
	require.NoError(t, b.m.Close())
	require.NoError(t, second.m.Close())
	j2, err := api.m.Get(j.ID)
	require.NoError(t, err)
	assert.Equal(t, StateFailed, j2.State)
	assert.Empty(t, c.resultBlobs(t))
}

// TestSharedQueueBound: the queue bound holds across the cluster under
// concurrent submissions through two nodes.
func TestSharedQueueBound(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	const size = 5
	bound := func(cfg *Config) { cfg.Workers = NoWorkers; cfg.QueueSize = size }
	nodes := []*node{c.node("a", bound), c.node("b", bound)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted, full := 0, 0
	for i := range 20 {
		wg.Go(func() {
			_, err := nodes[i%2].m.SubmitReader(context.Background(), strings.NewReader("ok"), Request{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				accepted++
			case assert.ErrorIs(t, err, ErrQueueFull):
				full++
			}
		})
	}
	wg.Wait()
	assert.Equal(t, size, accepted)
	assert.Equal(t, 20-size, full)
	n, err := nodes[0].m.store.queued()
	require.NoError(t, err)
	assert.Equal(t, size, n)
}

// TestSharedSweep: one node sweeps at a time. While another holds the
// sweep lock a node skips its turn; then it expires the result.
func TestSharedSweep(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	a := c.node("a", func(cfg *Config) { cfg.Retention = time.Minute })
	j := a.submit(t, "ok")
	require.Equal(t, StateSucceeded, a.wait(t, j.ID).State)
	c.clock.Set(t0.Add(2 * time.Minute))

	ctx := context.Background()
	pool, err := pgxpool.New(ctx, c.url)
	require.NoError(t, err)
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockSweep)
	require.NoError(t, err)
	assert.False(t, a.m.sweepTurn(), "another node is sweeping")
	assert.Len(t, c.resultBlobs(t), 1)
	_, err = conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", lockSweep)
	require.NoError(t, err)
	conn.Release()

	assert.True(t, a.m.sweepTurn())
	assert.Empty(t, c.resultBlobs(t))
	assert.Equal(t, StateExpired, a.record(t, j.ID).State)
}

// TestSharedStaleDispatch: a River job the row no longer waits for (a
// duplicate, or one River rescued after its node died) changes nothing:
// whether its job is finished, gone, or queued for another River job.
func TestSharedStaleDispatch(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	api := c.node("api", apiOnly)
	done := api.submit(t, "ok")
	queued := api.submit(t, "ok")
	ctx := context.Background()
	var ids []int64
	insert := func(id string) {
		// Scheduled earlier: River hands it out before the job's own.
		res, err := api.m.pg.river.Insert(ctx, extractArgs{ID: id}, &river.InsertOpts{ScheduledAt: time.Now().Add(-time.Hour)})
		require.NoError(t, err)
		ids = append(ids, res.Job.ID)
	}
	insert(queued.ID) // a duplicate of a queued job's River job
	a := c.node("a", nil)
	require.Equal(t, StateSucceeded, a.wait(t, done.ID).State)
	insert(done.ID)
	insert(newID())
	for _, id := range ids {
		require.Eventually(t, func() bool {
			var state string
			err := a.m.pg.pool.QueryRow(ctx, "SELECT state FROM river_job WHERE id = $1", id).Scan(&state)
			return err == nil && state == "completed"
		}, 30*time.Second, 10*time.Millisecond)
	}
	for _, j := range []Job{done, queued} {
		got := a.wait(t, j.ID)
		assert.Equal(t, StateSucceeded, got.State)
		assert.Equal(t, 1, got.Attempts)
		assert.Equal(t, 1, a.fx.callsOf(j.ID), "run once")
	}
}

// TestSharedFetch: a URL job submitted on one node is fetched and run on
// another, once.
func TestSharedFetch(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := fetcher{"http://127.0.0.1/v": "ok"}
	api := c.node("api", func(cfg *Config) { apiOnly(cfg); cfg.Fetcher = f })
	work := c.node("work", func(cfg *Config) { cfg.Fetcher = f })
	j, err := api.m.SubmitURL(context.Background(), Request{URL: "http://127.0.0.1/v"})
	require.NoError(t, err)
	j = api.wait(t, j.ID)
	assert.Equal(t, StateSucceeded, j.State)
	assert.Equal(t, 1, work.fx.callsOf(j.ID))
}

// TestMigrate: Migrate is idempotent and safe from many nodes at once;
// it refuses what is not a postgres:// URL.
func TestMigrate(t *testing.T) {
	t.Parallel()
	url := testsvc.StartPostgres(t).NewDatabase(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { assert.NoError(t, Migrate(ctx, url)) })
	}
	wg.Wait()
	require.NoError(t, Migrate(ctx, url))
	require.ErrorIs(t, Migrate(ctx, "sqlite:///x"), ErrInvalidRequest)
}

// TestSharedStoreDown: while the database is unreachable a submission is
// refused with ErrUnavailable and leaves no input behind, and the node is
// not ready.
func TestSharedStoreDown(t *testing.T) {
	t.Parallel()
	pg := testsvc.StartPostgres(t)
	blobs, err := NewDiskBlobs(t.TempDir())
	require.NoError(t, err)
	m, err := New(Config{Dir: t.TempDir(), Store: pg.NewDatabase(t), Blobs: blobs, Workers: NoWorkers})
	require.NoError(t, err)
	defer m.Close()
	require.NoError(t, m.Ready())
	pg.Stop()
	_, err = m.SubmitReader(context.Background(), strings.NewReader("ok"), Request{})
	require.ErrorIs(t, err, ErrUnavailable)
	bs, err := blobs.List(context.Background(), inputsDir+"/")
	require.NoError(t, err)
	assert.Empty(t, bs, "no input without its job")
	assert.ErrorIs(t, m.Ready(), ErrUnavailable)
}

// TestSharedFetchReaped: a URL job whose fetching node stops answering is
// fetched again by another node, and runs once, there. (The silent node's
// one worker is held by a job of its own, which the other node takes over
// too.)
func TestSharedFetchReaped(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	const url = "http://127.0.0.1/v"
	stuck := &gate{started: make(chan string, 4), release: make(chan struct{})}
	b := c.node("b", func(cfg *Config) { cfg.Fetcher = stuck })
	busy := b.submit(t, "block")
	b.waitStarted(t, busy.ID, 1)
	j, err := b.m.SubmitURL(context.Background(), Request{URL: url})
	require.NoError(t, err)
	<-stuck.started
	other := c.node("c", func(cfg *Config) { cfg.Workers = 2; cfg.Fetcher = fetcher{url: "ok"} })
	b.m.silence()
	j = other.wait(t, j.ID)
	assert.Equal(t, StateSucceeded, j.State)
	assert.Equal(t, 1, other.fx.callsOf(j.ID))
	assert.Zero(t, b.fx.callsOf(j.ID))
	assert.Equal(t, 1, j.Attempts)
	assert.Zero(t, other.record(t, j.ID).Crashes, "a fetch is no attempt")
	other.waitStarted(t, busy.ID, 1)
	assert.Equal(t, 1, other.record(t, busy.ID).Crashes)
}

// TestSharedNotifications: with a notifier on every node, each job's
// notification is delivered once, whichever node ran the job.
func TestSharedNotifications(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	nodes := []*node{c.node("api", apiOnly), c.node("b", nil), c.node("c", nil)}
	f := newFakeNotifier(c.clock.Now)
	for _, n := range nodes {
		require.NoError(t, n.m.StartNotifier(f, nil))
	}
	var ids []string
	for i := range 6 {
		j, err := nodes[i%3].m.SubmitReader(context.Background(), strings.NewReader("ok"), Request{Notify: "hook"})
		require.NoError(t, err)
		ids = append(ids, j.ID)
	}
	for _, id := range ids {
		require.Eventually(t, func() bool {
			j, err := nodes[0].m.Get(id)
			return err == nil && j.Notification != nil && j.Notification.State == NotificationDelivered
		}, 30*time.Second, 10*time.Millisecond)
	}
	got := map[string]int{}
	f.mu.Lock()
	for _, call := range f.calls {
		got[call.n.Job.ID]++
		assert.Equal(t, StateSucceeded, call.n.Job.State)
	}
	f.mu.Unlock()
	assert.Len(t, got, len(ids))
	for _, id := range ids {
		assert.Equal(t, 1, got[id], "job %s notified once", id)
	}
}

// TestSharedCancelRace: Cancel on one node while other nodes claim and
// finish the jobs never fails, and every job ends canceled or succeeded.
func TestSharedCancelRace(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	api := c.node("api", apiOnly)
	c.node("b", func(cfg *Config) { cfg.Workers = 2 }).fx.open()
	c.node("c", func(cfg *Config) { cfg.Workers = 2 }).fx.open()
	var wg sync.WaitGroup
	for range 20 {
		j := api.submit(t, "ok")
		wg.Go(func() {
			_, err := api.m.Cancel(j.ID)
			assert.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			j, err := api.m.Wait(ctx, j.ID)
			assert.NoError(t, err)
			assert.Contains(t, []State{StateCanceled, StateSucceeded}, j.State)
		})
	}
	wg.Wait()
}
