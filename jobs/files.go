package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/audex/audex/extract"
)

// The data directory's layout. Every name below it is derived from a job ID
// (validated) and the output format (an enum), never from client input.
const (
	storeFile   = "jobs.db"
	inputsDir   = "inputs"  // inputs/<id>: a job's input, while it may still run
	resultsDir  = "results" // results/<id>/audio.<ext>: a succeeded job's result
	tmpDir      = "tmp"     // uploads, downloads and outputs being written
	resultStem  = "audio"
	dirPerm     = 0o750
	filePerm    = 0o640
	tmpUpload   = ".upload"
	tmpFetch    = ".fetch"
	tmpOutput   = ".out"
	tmpInCopied = ".copy"
	tmpStaged   = ".in"  // a submitted input on its way into the blobs
	tmpSource   = ".src" // an input downloaded from the blobs to be extracted
)

func (m *Manager) tmpPath(id, suffix string) string {
	return filepath.Join(m.dir, tmpDir, id+suffix)
}

func resultName(f extract.Format) string { return resultStem + f.Extension() }

// syncDir makes a directory's entries (a rename into it) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ctxReader fails reads once ctx is done, so a stalled spool can be canceled
// between reads.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writeErr remembers whether a copy failed on the writing side (our disk)
// rather than the reading side (the caller's reader).
type writeErr struct {
	w   io.Writer
	err error
}

func (w *writeErr) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// spool copies r into a new file at path and syncs it. Errors writing wrap
// ErrUnavailable; errors reading are returned wrapped as they are.
func spool(ctx context.Context, path string, r io.Reader) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return 0, fmt.Errorf("%w: spool input: %w", ErrUnavailable, err)
	}
	w := &writeErr{w: f}
	n, err := io.Copy(w, ctxReader{ctx, r})
	if err == nil {
		if err = f.Sync(); err != nil {
			w.err = err
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err, w.err = cerr, cerr
	}
	switch {
	case w.err != nil:
		err = fmt.Errorf("%w: spool input: %w", ErrUnavailable, w.err)
	case err != nil:
		err = fmt.Errorf("jobs: read input: %w", err)
	}
	if err != nil {
		os.Remove(path)
		return 0, err
	}
	return n, nil
}

// adopted is an input file taken over by the manager. If the submission
// fails, undo gives it back; if it succeeds, done finishes the hand-over.
type adopted struct {
	size int64
	undo func()
	done func()
}

// linkFunc makes newname a hard link to oldname (os.Link; tests replace it).
type linkFunc func(oldname, newname string) error

// adopt makes the caller's file at src the job's input at dst.
//
// By default the caller keeps the file: dst is a hard link to it when
// both are on one file system and the link is allowed (instant, no space),
// else a copy written through tmp. The manager never writes to dst and only
// ever unlinks that name of its own, so the caller's file stays as it is;
// what a link shares is the inode: a change the caller makes to the file in
// place, before the job has read it, is what the job reads.
//
// With move, the file itself is taken: renamed to dst, or across file
// systems copied through tmp and removed once the job is committed.
func adopt(ctx context.Context, src, dst, tmp string, move bool, link linkFunc) (adopted, error) {
	// Stat before opening: opening a FIFO would block, a device may act.
	stat := os.Stat
	if move {
		// Moving a symlink would move the link, not the file.
		stat = os.Lstat
	}
	fi, err := stat(src)
	if err != nil {
		return adopted{}, inputErr(err)
	}
	if err := checkInput(src, fi); err != nil {
		return adopted{}, err
	}
	f, err := os.OpenFile(src, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return adopted{}, inputErr(err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return adopted{}, inputErr(err)
	}
	if err := checkInput(src, fi); err != nil {
		return adopted{}, err // replaced since the first look
	}
	if move {
		return moveFile(ctx, f, fi, src, dst, tmp)
	}
	if linkFile(src, fi, dst, link) {
		if err = syncFile(dst); err == nil {
			err = syncDir(filepath.Dir(dst))
		}
		if err != nil {
			os.Remove(dst)
			return adopted{}, fmt.Errorf("%w: take input: %w", ErrUnavailable, err)
		}
		return adopted{size: fi.Size(), undo: func() { os.Remove(dst) }, done: func() {}}, nil
	}
	n, err := copyFile(ctx, f, dst, tmp)
	if err != nil {
		return adopted{}, err
	}
	return adopted{size: n, undo: func() { os.Remove(dst) }, done: func() {}}, nil
}

func inputErr(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w: input file: %w", ErrInvalidRequest, err)
	}
	return fmt.Errorf("%w: input file: %w", ErrUnavailable, err)
}

// checkInput accepts only a non-empty regular file: a directory, device,
// FIFO or socket is never linked, moved or read.
func checkInput(src string, fi fs.FileInfo) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%w: input %s is a symlink; to move the input, name the file itself", ErrInvalidRequest, src)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%w: input %s is not a regular file", ErrInvalidRequest, src)
	case fi.Size() == 0:
		return fmt.Errorf("%w: input %s is empty", ErrInvalidRequest, src)
	}
	return nil
}

// linkFile hard-links the file fi (opened from src) at dst, and reports
// whether dst is now that very file. os.Link does not follow a symlink, so
// src is resolved first; the result is checked against the opened file, so
// a src replaced meanwhile is never linked in its place.
func linkFile(src string, fi fs.FileInfo, dst string, link linkFunc) bool {
	target, err := filepath.EvalSymlinks(src)
	if err != nil || link(target, dst) != nil {
		return false
	}
	got, err := os.Lstat(dst)
	if err != nil || !got.Mode().IsRegular() || !os.SameFile(got, fi) {
		os.Remove(dst)
		return false
	}
	return true
}

// moveFile renames src to dst, or across file systems copies the open file
// f through tmp; the original is then removed only once the job is
// committed.
func moveFile(ctx context.Context, f *os.File, fi fs.FileInfo, src, dst, tmp string) (adopted, error) {
	err := os.Rename(src, dst)
	if err == nil {
		if err = syncFile(dst); err == nil {
			err = syncDir(filepath.Dir(dst))
		}
		if err != nil {
			os.Rename(dst, src)
			return adopted{}, fmt.Errorf("%w: take input: %w", ErrUnavailable, err)
		}
		return adopted{size: fi.Size(), undo: func() { os.Rename(dst, src) }, done: func() {}}, nil
	}
	if !errors.Is(err, syscall.EXDEV) {
		return adopted{}, fmt.Errorf("%w: take input: %w", ErrUnavailable, err)
	}
	n, err := copyFile(ctx, f, dst, tmp)
	if err != nil {
		return adopted{}, err
	}
	return adopted{size: n, undo: func() { os.Remove(dst) }, done: func() { os.Remove(src) }}, nil
}

// copyFile copies r to dst through tmp, durably.
func copyFile(ctx context.Context, r io.Reader, dst, tmp string) (int64, error) {
	n, err := spool(ctx, tmp, r)
	if err != nil {
		return 0, err
	}
	if err = os.Rename(tmp, dst); err == nil {
		err = syncDir(filepath.Dir(dst))
	}
	if err != nil {
		os.Remove(tmp)
		os.Remove(dst)
		return 0, fmt.Errorf("%w: take input: %w", ErrUnavailable, err)
	}
	return n, nil
}
