package jobs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// markerFile marks a directory as a data directory. New removes the files
// in inputs/, results/ and tmp/ that no job needs, so it takes a directory
// only when that cannot delete anything it did not make: a directory that
// is new, empty or already marked (or holds jobs.db, from a version before
// the marker). A directory of other files named by mistake is refused.
const markerFile = ".audex-jobs"

const markerText = `This directory is an audex job manager's data directory (package jobs).
The manager deletes files in inputs/, results/ and tmp/ that no job needs.
`

// claimDir checks that dir may be used as a data directory, creating it if
// it does not exist, and reports whether it still needs the marker (written
// by markDir once the store is open).
func claimDir(dir string) (needMarker bool, err error) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, dirPerm); err != nil {
			return false, fmt.Errorf("jobs: data directory: %w", err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("jobs: data directory: %w", err)
	case !fi.IsDir():
		return false, fmt.Errorf("%w: data directory %s is not a directory", ErrInvalidRequest, dir)
	}
	if _, err := os.Lstat(filepath.Join(dir, markerFile)); err == nil {
		return false, nil
	}
	es, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("jobs: data directory: %w", err)
	}
	var foreign []string
	for _, e := range es {
		switch name := e.Name(); {
		case name == storeFile:
			return true, nil // made by a version before the marker
		case strings.HasPrefix(name, "."), name == "lost+found":
			// A home directory's dotfiles, a file system's root: New
			// never touches them.
		default:
			foreign = append(foreign, name)
		}
	}
	if len(foreign) > 0 {
		slices.Sort(foreign)
		if len(foreign) > 3 {
			foreign = append(foreign[:3], "...")
		}
		return false, fmt.Errorf("%w: data directory %s holds other files (%s) and is not an audex data directory: name a new or empty directory",
			ErrInvalidRequest, dir, strings.Join(foreign, ", "))
	}
	return true, nil
}

// markDir writes the marker, durably.
func markDir(dir string) error {
	err := os.WriteFile(filepath.Join(dir, markerFile), []byte(markerText), filePerm)
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("jobs: data directory: mark %s: %w", dir, err)
	}
	return nil
}
