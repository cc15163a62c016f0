package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Blobs keeps the bytes of jobs, their inputs and results, apart from their
// records: on the data directory's disk by default (NewDiskBlobs), or in a
// store every node can reach (an S3 bucket; see audex serve --blobs).
// What stays node-local is the extraction itself: it reads a local file
// (the manager downloads the input to its tmp directory when the store is
// not on this disk) and writes one, which is put into the store once the
// extraction succeeded.
//
// Keys are slash-separated paths made by the manager only: inputs/<id> and
// results/<id>/audio.<ext>. Every method is safe for concurrent use. A key
// that does not exist is an error wrapping fs.ErrNotExist (Open and Stat);
// Delete of a missing key is not an error. A store that cannot be reached
// says so with an error wrapping ErrUnavailable (HTTP 503).
type Blobs interface {
	// Put stores the content of the local file at path under key, whole or
	// not at all (a reader never sees a part), durably once it returns.
	// The file at path is left as it is; the caller removes it.
	Put(ctx context.Context, key, path string) error
	// Open opens a stored blob for reading, with seeking (Range requests
	// are served from it). The reader may do I/O until closed; ctx bounds
	// only the opening.
	Open(ctx context.Context, key string) (Blob, error)
	// Stat describes a stored blob.
	Stat(ctx context.Context, key string) (BlobInfo, error)
	// Delete removes a blob.
	Delete(ctx context.Context, key string) error
	// List describes every blob whose key starts with prefix, for the
	// sweep of orphans, in no particular order.
	List(ctx context.Context, prefix string) ([]BlobInfo, error)
}

// Blob is a stored blob open for reading.
type Blob interface {
	io.ReadSeekCloser
	Info() BlobInfo
}

// BlobInfo describes a stored blob.
type BlobInfo struct {
	Key     string
	Size    int64
	ETag    string // changes whenever the content may have
	ModTime time.Time
}

// Blob keys.
func inputKey(id string) string   { return inputsDir + "/" + id }
func resultsKey(id string) string { return resultsDir + "/" + id + "/" }
func resultKey(id string, name string) string {
	return resultsKey(id) + name
}

// NewDiskBlobs returns the Blobs of a directory of the local disk: each key
// is a file under dir. Put links the file in when it is on the same file
// system (its content is never written again) and copies it otherwise,
// syncs it, renames it into place and syncs the directories, so a blob is
// whole and durable once Put returns. Reads go through an os.Root on the
// key's top directory (dir/results for results/<id>/audio.mp3).
// List shows every file that is not a directory, symlinks and files being
// put included, so that a sweep of orphans removes them.
// dir must exist. The manager's default (Config.Blobs nil) is
// NewDiskBlobs(Config.Dir), keeping the files where the data directory
// always had them.
func NewDiskBlobs(dir string) (Blobs, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("jobs: blobs directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err == nil && !fi.IsDir() {
		err = fmt.Errorf("%s is not a directory", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("jobs: blobs directory: %w", err)
	}
	return &diskBlobs{dir: dir}, nil
}

type diskBlobs struct {
	dir string
}

// inRoot runs fn on the name of key in an os.Root of key's top directory
// (results/ for results/<id>/audio.mp3), so that nothing outside it is ever
// read, not even through a symlink planted in it. Each call opens its own:
// Blobs have no Close to release a long-lived one.
func (d *diskBlobs) inRoot(key string, fn func(root *os.Root, name string) error) error {
	top, name := ".", key
	if i := strings.Index(key, "/"); i >= 0 {
		top, name = key[:i], key[i+1:]
	}
	root, err := os.OpenRoot(filepath.Join(d.dir, top))
	if err != nil {
		return err
	}
	defer root.Close()
	return fn(root, name)
}

// tmpPrefix names files being put; List shows them, so that an orphan
// sweep removes those of a process that died.
const tmpPrefix = ".put-"

// validKey accepts the keys the manager makes: relative slash paths of
// plain names.
func validKey(key string) bool {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") || strings.Contains(key, "\\") || strings.ContainsRune(key, 0) {
		return false
	}
	for _, e := range strings.Split(key, "/") {
		if e == "" || e == "." || e == ".." {
			return false
		}
	}
	return true
}

func (d *diskBlobs) path(key string) (string, error) {
	if !validKey(key) {
		return "", fmt.Errorf("jobs: invalid blob key %q", key)
	}
	return filepath.Join(d.dir, filepath.FromSlash(key)), nil
}

// localPath is the file of key: the manager reads inputs and results in
// place rather than copying them out.
func (d *diskBlobs) localPath(key string) string {
	p, err := d.path(key)
	if err != nil {
		return ""
	}
	return p
}

func (d *diskBlobs) Put(ctx context.Context, key, src string) error {
	dst, err := d.path(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(dst)
	if err := d.mkdirs(dir); err != nil {
		return fmt.Errorf("jobs: put %s: %w", key, err)
	}
	tmp := filepath.Join(dir, tmpPrefix+randName())
	if err := syncFile(src); err != nil {
		return fmt.Errorf("jobs: put %s: %w", key, err)
	}
	if err := os.Link(src, tmp); err != nil {
		f, err := os.Open(src)
		if err != nil {
			return fmt.Errorf("jobs: put %s: %w", key, err)
		}
		_, err = spool(ctx, tmp, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("jobs: put %s: %w", key, err)
		}
	}
	if err = os.Rename(tmp, dst); err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("jobs: put %s: %w", key, err)
	}
	return nil
}

// mkdirs makes dir and its missing parents under d.dir, syncing each
// parent that got a new entry.
func (d *diskBlobs) mkdirs(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if dir == d.dir {
		return os.MkdirAll(dir, dirPerm)
	}
	if err := d.mkdirs(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

func randName() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (d *diskBlobs) Open(_ context.Context, key string) (Blob, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("jobs: open %s: %w", key, fs.ErrNotExist)
	}
	var f *os.File
	err := d.inRoot(key, func(root *os.Root, name string) error {
		var err error
		f, err = root.Open(name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: open %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fs.ErrNotExist
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("jobs: open %s: %w", key, err)
	}
	return &diskBlob{File: f, info: diskInfo(key, fi)}, nil
}

type diskBlob struct {
	*os.File
	info BlobInfo
}

func (b *diskBlob) Info() BlobInfo { return b.info }

// diskInfo: a blob's file is only ever replaced whole, by a rename, so its
// inode, size and time tell one content from another.
func diskInfo(key string, fi fs.FileInfo) BlobInfo {
	tag := strconv.FormatInt(fi.Size(), 36) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 36)
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		tag = strconv.FormatUint(st.Ino, 36) + "-" + tag
	}
	return BlobInfo{Key: key, Size: fi.Size(), ETag: `"` + tag + `"`, ModTime: fi.ModTime()}
}

func (d *diskBlobs) Stat(_ context.Context, key string) (BlobInfo, error) {
	if !validKey(key) {
		return BlobInfo{}, fmt.Errorf("jobs: stat %s: %w", key, fs.ErrNotExist)
	}
	var fi fs.FileInfo
	err := d.inRoot(key, func(root *os.Root, name string) error {
		var err error
		fi, err = root.Stat(name)
		return err
	})
	if err == nil && !fi.Mode().IsRegular() {
		err = fs.ErrNotExist
	}
	if err != nil {
		return BlobInfo{}, fmt.Errorf("jobs: stat %s: %w", key, err)
	}
	return diskInfo(key, fi), nil
}

// Delete removes the file, and its directory when that is left empty
// below the top level (results/<id>/).
func (d *diskBlobs) Delete(_ context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("jobs: delete %s: %w", key, err)
	}
	if parent := path.Dir(key); strings.Contains(parent, "/") {
		os.Remove(filepath.Dir(p)) // fails, as it should, when not empty
	}
	return nil
}

// emptyPruner is a blob store that keeps directories (the disk): the
// start-up sweep has it remove the empty ones below top that a death between
// making a directory and putting a file in it leaves, which List cannot show.
type emptyPruner interface {
	pruneEmpty(top string) int
}

func (d *diskBlobs) pruneEmpty(top string) int {
	n := 0
	for _, e := range readDir(filepath.Join(d.dir, top)) {
		// Remove fails, as it should, on a directory that is not empty.
		if e.IsDir() && os.Remove(filepath.Join(d.dir, top, e.Name())) == nil {
			n++
		}
	}
	return n
}

func (d *diskBlobs) List(_ context.Context, prefix string) ([]BlobInfo, error) {
	// Walk the deepest directory the prefix names in full.
	base := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		base = prefix[:i]
	}
	start := d.dir
	if base != "" {
		if !validKey(base) {
			return nil, fmt.Errorf("jobs: list %s: invalid prefix", prefix)
		}
		start = filepath.Join(d.dir, filepath.FromSlash(base))
	}
	var out []BlobInfo
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == start && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		rel, err := filepath.Rel(d.dir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if e.IsDir() {
			if p != start && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		out = append(out, diskInfo(key, fi))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: list %s: %w", prefix, err)
	}
	return out, nil
}

// localPath is the local file of a blob, when blobs keeps it on this
// machine's disk; "" otherwise.
func localPath(b Blobs, key string) string {
	if d, ok := b.(*diskBlobs); ok {
		return d.localPath(key)
	}
	return ""
}
