package jobs

import (
	"reflect"
	"testing"
	"time"

	"github.com/audex/audex/extract"
)

// FuzzJobStateMachine (reliability.md F-8) drives the record transitions
// that the store and the manager use with a byte string decoded into events
// (submit, claim, complete, fail, crash-class failure, process crash,
// cancel, shutdown re-queue, clock tick, sweep) and checks the state
// machine's invariants after every event.
func FuzzJobStateMachine(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 2, 0, 8, 31, 9, 0, 8, 200, 9, 0})
	f.Add([]byte{0, 1, 1, 0, 5, 0, 1, 0, 5, 0, 1, 0, 2, 0})
	f.Add([]byte{0, 0, 0, 0, 1, 0, 4, 0, 1, 0, 4, 0, 6, 1, 7, 0})
	f.Add([]byte{0, 0, 1, 0, 7, 0, 1, 0, 10, 0, 2, 0, 8, 255, 8, 255, 9, 0})
	const retention, grace = 15 * time.Minute, time.Hour
	f.Fuzz(func(t *testing.T, events []byte) {
		now := t0
		var jobs []*record
		starts := map[string]int{}
		successes := map[string]int{}
		seq := uint64(0)
		pick := func(arg byte) *record {
			if len(jobs) == 0 {
				return nil
			}
			return jobs[int(arg)%len(jobs)]
		}
		for i := 0; i+1 < len(events); i += 2 {
			op, arg := events[i]%11, events[i+1]
			// apply runs one transition and checks that a refused one
			// changes nothing and an accepted one leaves a final job alone
			// (except succeeded -> expired).
			apply := func(r *record, fn func(*record) error) {
				before := *r
				err := fn(r)
				if err != nil {
					if !reflect.DeepEqual(before, *r) {
						t.Fatalf("refused transition changed the record: %+v -> %+v", before, *r)
					}
					return
				}
				if before.State.Final() && !(before.State == StateSucceeded && r.State == StateExpired) {
					t.Fatalf("final job changed: %+v -> %+v", before, *r)
				}
				if before.State != StateRunning && r.State == StateRunning {
					starts[r.ID]++
				}
				if before.State != StateSucceeded && r.State == StateSucceeded {
					successes[r.ID]++
				}
			}
			switch op {
			case 0: // submit
				if len(jobs) < 8 {
					seq++
					jobs = append(jobs, &record{ID: newID(), Seq: seq, State: StateQueued, CreatedAt: now,
						Request: Request{Persistent: arg&1 == 1, Options: extract.Options{Format: extract.MP3}}})
				}
			case 1: // claim: the oldest queued job, as the store does
				var next *record
				for _, r := range jobs {
					if r.State == StateQueued && (next == nil || r.Seq < next.Seq) {
						next = r
					}
				}
				if next != nil {
					apply(next, func(r *record) error { return r.start(now) })
				}
			case 2:
				if r := pick(arg); r != nil {
					apply(r, func(r *record) error { return r.succeed(now, &Output{Format: extract.MP3}, retention) })
				}
			case 3:
				if r := pick(arg); r != nil {
					apply(r, func(r *record) error {
						return r.finish(now, StateFailed, &Error{Code: CodeNoAudio}, retention)
					})
				}
			case 4: // an extractor error wrapping ErrWorkerCrashed
				if r := pick(arg); r != nil {
					apply(r, func(r *record) error { return r.crashed(now, retention, "worker crashed") })
				}
			case 5: // the process dies; the next start recovers running jobs
				for _, r := range jobs {
					if r.State == StateRunning {
						apply(r, func(r *record) error { return r.crashed(now, retention, "process died") })
					}
				}
			case 6: // Cancel: queued at once, running when the extraction returns
				if r := pick(arg); r != nil {
					if r.State == StateRunning {
						apply(r, func(r *record) error {
							return r.finish(now, StateCanceled, &Error{Code: CodeCanceled}, retention)
						})
					} else {
						apply(r, func(r *record) error { return r.cancelQueued(now, retention) })
					}
				}
			case 7: // Shutdown or Close interrupts a running job
				if r := pick(arg); r != nil {
					apply(r, (*record).requeue)
				}
			case 8:
				now = now.Add(time.Duration(arg) * 30 * time.Second)
			case 9: // sweep
				kept := jobs[:0]
				for _, r := range jobs {
					if r.stateAt(now) == StateExpired && r.State == StateSucceeded {
						apply(r, func(r *record) error { return r.expire(now) })
					}
					if r.forgotten(now, grace) {
						if !r.State.Final() || r.Request.Persistent {
							t.Fatalf("forgot a live or persistent job: %+v", *r)
						}
						continue
					}
					kept = append(kept, r)
				}
				jobs = kept
			case 10: // a URL job's input arrives
				if r := pick(arg); r != nil {
					apply(r, func(r *record) error { return r.setInput(1) })
				}
			}
			for _, r := range jobs {
				checkRecord(t, r, now, retention, starts[r.ID], successes[r.ID])
			}
		}
	})
}

func checkRecord(t *testing.T, r *record, now time.Time, retention time.Duration, starts, successes int) {
	t.Helper()
	fail := func(why string) { t.Fatalf("%s: %+v", why, *r) }
	if r.Attempts != starts {
		fail("attempts do not count the starts")
	}
	if successes > 1 {
		fail("completed twice")
	}
	if (r.Result != nil) != (r.State == StateSucceeded || r.State == StateExpired) {
		fail("a result without success, or success without a result")
	}
	if r.Crashes > maxCrashes || (r.Crashes == maxCrashes) != (r.Error != nil && r.Error.Code == CodeWorkerCrashed) {
		fail("crash-class failures not quarantined after one retry")
	}
	if r.Crashes == maxCrashes && r.State != StateFailed {
		fail("quarantined job not failed")
	}
	if r.State.Final() != !r.FinishedAt.IsZero() {
		fail("finished time does not match the state")
	}
	switch {
	case r.Request.Persistent:
		if !r.ExpiresAt.IsZero() || r.stateAt(now) == StateExpired {
			fail("persistent job expires")
		}
	case r.State.Final():
		if !r.ExpiresAt.Equal(r.FinishedAt.Add(retention)) {
			fail("expiry is not finish plus retention")
		}
	}
	wantExpired := r.State == StateExpired ||
		(r.State == StateSucceeded && !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt))
	if (r.stateAt(now) == StateExpired) != wantExpired {
		fail("expiry seen at the wrong time")
	}
}
