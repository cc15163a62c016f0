// Package embedtest holds the test that does what a new user of the library
// does: a program in a module of its own imports extract and jobs, is built
// with the commands of the README's "Use audex in your own module" section
// (read from the README, so the doc cannot drift) against a read-only copy
// of this module shaped like Go's module cache, and runs, as the audex
// binary does, where no codec library exists: in a chroot holding only the
// C runtime. It has no code of its own.
package embedtest
