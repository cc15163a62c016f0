package jobs

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// store keeps job records, the queue and the pending notifications. It is
// the seam for scaling out: the Manager touches durable state only through
// these methods, each of which is one atomic, durable step (a transaction
// that is committed, and fsynced, before it returns). There are two
// implementations: boltStore, the embedded one, which one process owns and
// whose queue the Manager's own runners and fetchers take from
// (localQueue); and pgStore, shared by many nodes, where River dispatches
// the jobs (pgstore.go). Notifications are leased on both: claimNotices
// gives each due one to a single caller until its claim runs out, and only
// that claim's holder may settle it. Every backend runs the conformance
// suite, runStoreSuite (storesuite_test.go).
type store interface {
	// enqueue adds a new queued record, assigning its Seq and position,
	// unless maxQueued records are already queued (ErrQueueFull).
	enqueue(r *record, maxQueued int) error
	// update applies fn to the record and stores the result; an error from
	// fn aborts the update and is returned. It keeps the queue in step with
	// the record's state.
	update(id string, fn func(*record) error) (*record, error)
	// get returns a record (ErrNotFound).
	get(id string) (*record, error)
	// list returns all records in Seq order.
	list() ([]*record, error)
	// queued counts the queued records.
	queued() (int, error)
	// remove deletes a record; removing a missing one is not an error.
	remove(id string) error
	// ping makes a durable write that no record shows: a health probe.
	ping() error
	// claimNotices claims up to max pending notifications that are
	// eligible at now (due, and not under a claim that has not run out),
	// oldest first, each until now+lease (record.claimNotice), and returns
	// their records. update keeps the notifications in step with the
	// records as it does the queue.
	claimNotices(now time.Time, max int, lease time.Duration) ([]*record, error)
	// nextNotice returns when the next pending notification becomes
	// eligible; zero when none is pending.
	nextNotice() (time.Time, error)
	close() error
}

// localQueue is a store whose queue the Manager's runners and fetchers
// take from themselves (the embedded store; a shared one has River
// dispatch instead).
type localQueue interface {
	store
	// claim starts the oldest queued record that has its input
	// (record.start) and returns it, or nil when there is none.
	claim(now time.Time) (*record, error)
	// nextFetch returns the oldest queued URL record without its input
	// (record.needsFetch) for which skip is false, or nil. It changes
	// nothing: the fetch stage keeps its claims in memory.
	nextFetch(skip func(id string) bool) (*record, error)
}

var (
	bucketJobs    = []byte("jobs")    // id -> JSON record
	bucketQueue   = []byte("queue")   // big-endian Seq -> id, queued records only
	bucketHealth  = []byte("health")  // "ping" -> time of the last probe
	bucketNotices = []byte("notices") // noticeKey -> nothing, pending notifications only
)

// boltStore is the embedded store: one bbolt file in the data directory.
type boltStore struct {
	db *bolt.DB
}

func openBolt(path string) (*boltStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("jobs: open store %s: in use by another process: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("jobs: open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketJobs, bucketQueue, bucketHealth, bucketNotices} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("jobs: init store %s: %w", path, err)
	}
	return &boltStore{db: db}, nil
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// noticeKey orders pending notifications by when they become eligible:
// big-endian unix nanoseconds, then the job id. nil for a record without a
// pending notification.
func noticeKey(r *record) []byte {
	t := r.Notice.eligible()
	if t.IsZero() {
		return nil
	}
	return append(binary.BigEndian.AppendUint64(nil, uint64(max(t.UnixNano(), 0))), r.ID...)
}

func noticeKeyTime(k []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[:8])))
}

// reindexNotice moves a record's entry in the notices bucket from the key it
// had (old) to the one it has now.
func reindexNotice(tx *bolt.Tx, old []byte, r *record) error {
	b := tx.Bucket(bucketNotices)
	k := noticeKey(r)
	if bytes.Equal(old, k) {
		return nil
	}
	if old != nil {
		if err := b.Delete(old); err != nil {
			return err
		}
	}
	if k == nil {
		return nil
	}
	return b.Put(k, nil)
}

func getRecord(tx *bolt.Tx, id string) (*record, error) {
	data := tx.Bucket(bucketJobs).Get([]byte(id))
	if data == nil {
		return nil, ErrNotFound
	}
	r, err := decodeRecord(data)
	if err != nil {
		return nil, fmt.Errorf("jobs: decode record %s: %w", id, err)
	}
	return r, nil
}

func putRecord(tx *bolt.Tx, r *record) error {
	data, err := encodeRecord(r)
	if err != nil {
		return fmt.Errorf("jobs: encode record %s: %w", r.ID, err)
	}
	return tx.Bucket(bucketJobs).Put([]byte(r.ID), data)
}

// position counts queued records up to and including seq.
func position(tx *bolt.Tx, seq uint64) int {
	n, key := 0, seqKey(seq)
	c := tx.Bucket(bucketQueue).Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k, key) <= 0; k, _ = c.Next() {
		n++
	}
	return n
}

func countQueued(tx *bolt.Tx) int {
	n := 0
	c := tx.Bucket(bucketQueue).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}

func (s *boltStore) enqueue(r *record, maxQueued int) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		n := countQueued(tx)
		if n >= maxQueued {
			return ErrQueueFull
		}
		if tx.Bucket(bucketJobs).Get([]byte(r.ID)) != nil {
			return fmt.Errorf("jobs: duplicate job id %s", r.ID)
		}
		seq, err := tx.Bucket(bucketJobs).NextSequence()
		if err != nil {
			return err
		}
		r.Seq, r.State = seq, StateQueued
		if err := putRecord(tx, r); err != nil {
			return err
		}
		r.position = n + 1
		return tx.Bucket(bucketQueue).Put(seqKey(seq), []byte(r.ID))
	})
}

func (s *boltStore) claim(now time.Time) (*record, error) {
	var r *record
	err := s.db.Update(func(tx *bolt.Tx) error {
		q := tx.Bucket(bucketQueue)
		var k []byte
		var rec *record
		c := q.Cursor()
		for key, id := c.First(); key != nil; key, id = c.Next() {
			r, err := getRecord(tx, string(id))
			if err != nil {
				return err
			}
			if !r.needsFetch() {
				k, rec = key, r
				break
			}
		}
		if k == nil {
			return nil
		}
		if err := rec.start(now); err != nil {
			return err
		}
		if err := q.Delete(k); err != nil {
			return err
		}
		r = rec
		return putRecord(tx, rec)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (s *boltStore) nextFetch(skip func(id string) bool) (*record, error) {
	var r *record
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketQueue).Cursor()
		for k, id := c.First(); k != nil; k, id = c.Next() {
			if skip(string(id)) {
				continue
			}
			rec, err := getRecord(tx, string(id))
			if err != nil {
				return err
			}
			if rec.needsFetch() {
				rec.position = position(tx, rec.Seq)
				r = rec
				return nil
			}
		}
		return nil
	})
	return r, err
}

func (s *boltStore) update(id string, fn func(*record) error) (*record, error) {
	var r *record
	err := s.db.Update(func(tx *bolt.Tx) error {
		rec, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		was, notice := rec.State, noticeKey(rec)
		if err := fn(rec); err != nil {
			return err
		}
		if rec.ID != id {
			return fmt.Errorf("jobs: update changed the id of %s", id)
		}
		q := tx.Bucket(bucketQueue)
		switch {
		case was == StateQueued && rec.State != StateQueued:
			err = q.Delete(seqKey(rec.Seq))
		case was != StateQueued && rec.State == StateQueued:
			err = q.Put(seqKey(rec.Seq), []byte(id))
		}
		if err != nil {
			return err
		}
		if err := reindexNotice(tx, notice, rec); err != nil {
			return err
		}
		if err := putRecord(tx, rec); err != nil {
			return err
		}
		if rec.State == StateQueued {
			rec.position = position(tx, rec.Seq)
		}
		r = rec
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (s *boltStore) get(id string) (*record, error) {
	var r *record
	err := s.db.View(func(tx *bolt.Tx) error {
		rec, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		if rec.State == StateQueued {
			rec.position = position(tx, rec.Seq)
		}
		r = rec
		return nil
	})
	return r, err
}

func (s *boltStore) list() ([]*record, error) {
	var rs []*record
	err := s.db.View(func(tx *bolt.Tx) error {
		pos := map[string]int{}
		c := tx.Bucket(bucketQueue).Cursor()
		for k, id := c.First(); k != nil; k, id = c.Next() {
			pos[string(id)] = len(pos) + 1
		}
		return tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
			r, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("jobs: decode record %s: %w", k, err)
			}
			r.position = pos[r.ID]
			rs = append(rs, r)
			return nil
		})
	})
	slices.SortFunc(rs, func(a, b *record) int { return cmp.Compare(a.Seq, b.Seq) })
	return rs, err
}

func (s *boltStore) queued() (int, error) {
	var n int
	err := s.db.View(func(tx *bolt.Tx) error {
		n = countQueued(tx)
		return nil
	})
	return n, err
}

func (s *boltStore) ping() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHealth).Put([]byte("ping"), []byte(time.Now().UTC().Format(time.RFC3339Nano)))
	})
}

func (s *boltStore) remove(id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		r, err := getRecord(tx, id)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketQueue).Delete(seqKey(r.Seq)); err != nil {
			return err
		}
		if err := reindexNotice(tx, noticeKey(r), &record{ID: id}); err != nil {
			return err
		}
		return tx.Bucket(bucketJobs).Delete([]byte(id))
	})
}

func (s *boltStore) claimNotices(now time.Time, max int, lease time.Duration) ([]*record, error) {
	var rs []*record
	err := s.db.Update(func(tx *bolt.Tx) error {
		// Collect first: a bucket must not change under its cursor.
		var keys [][]byte
		c := tx.Bucket(bucketNotices).Cursor()
		for k, _ := c.First(); k != nil && len(keys) < max && !noticeKeyTime(k).After(now); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			rec, err := getRecord(tx, string(k[8:]))
			if errors.Is(err, ErrNotFound) {
				if err := tx.Bucket(bucketNotices).Delete(k); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			old := noticeKey(rec)
			if err := rec.claimNotice(now, lease); err != nil {
				// An entry out of step with its record: put it right.
				if err := tx.Bucket(bucketNotices).Delete(k); err != nil {
					return err
				}
				if err := reindexNotice(tx, nil, rec); err != nil {
					return err
				}
				continue
			}
			if err := reindexNotice(tx, old, rec); err != nil {
				return err
			}
			if err := putRecord(tx, rec); err != nil {
				return err
			}
			rs = append(rs, rec)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rs, nil
}

func (s *boltStore) nextNotice() (time.Time, error) {
	var t time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketNotices).Cursor().First(); k != nil {
			t = noticeKeyTime(k)
		}
		return nil
	})
	return t, err
}

func (s *boltStore) close() error { return s.db.Close() }

// watchedStore remembers whether the last write to its store failed, so a
// health check can tell a store that reads but cannot write, and probes
// with a write only then.
type watchedStore struct {
	store
	mu      sync.Mutex
	failing bool // the last write failed in the store
}

func (w *watchedStore) saw(err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil:
		w.failing = false
	case errors.Is(storeErr(err), ErrUnavailable):
		w.failing = true
	}
	return err
}

func (w *watchedStore) enqueue(r *record, maxQueued int) error {
	return w.saw(w.store.enqueue(r, maxQueued))
}

// claim and nextFetch are localQueue's, for a Manager that dispatches
// itself.
func (w *watchedStore) claim(now time.Time) (*record, error) {
	r, err := w.store.(localQueue).claim(now)
	return r, w.saw(err)
}

func (w *watchedStore) nextFetch(skip func(id string) bool) (*record, error) {
	r, err := w.store.(localQueue).nextFetch(skip)
	return r, w.saw(err)
}

func (w *watchedStore) update(id string, fn func(*record) error) (*record, error) {
	r, err := w.store.update(id, fn)
	return r, w.saw(err)
}

func (w *watchedStore) remove(id string) error { return w.saw(w.store.remove(id)) }

func (w *watchedStore) ping() error { return w.saw(w.store.ping()) }

func (w *watchedStore) claimNotices(now time.Time, max int, lease time.Duration) ([]*record, error) {
	rs, err := w.store.claimNotices(now, max, lease)
	return rs, w.saw(err)
}

// writable reports whether the store takes writes: nil while no write has
// failed since the last that succeeded, else the result of a probe.
func (w *watchedStore) writable() error {
	w.mu.Lock()
	failing := w.failing
	w.mu.Unlock()
	if !failing {
		return nil
	}
	return w.ping()
}
