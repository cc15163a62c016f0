package extract

import "errors"

// Sentinel errors. Every error returned by this package wraps one of these (or
// a context error) together with the step that failed and, where FFmpeg
// reported it, FFmpeg's own message. Compare with [errors.Is].
var (
	// ErrNoAudio: the input has no audio stream.
	ErrNoAudio = errors.New("no audio stream")
	// ErrTrackNotFound: the requested track or language is not in the input.
	ErrTrackNotFound = errors.New("audio track not found")
	// ErrUnrecognizedInput: FFmpeg cannot tell what the input is (empty,
	// random bytes, text, a container audex does not read).
	ErrUnrecognizedInput = errors.New("unrecognized input format")
	// ErrInvalidInput: the container was recognized but is corrupt or cut
	// short where it matters (no index, no decodable audio).
	ErrInvalidInput = errors.New("invalid or corrupt input")
	// ErrUnsupportedInput: the input is well formed but audex refuses it:
	// playlists and other formats that open further resources, encrypted
	// media, absurd audio parameters.
	ErrUnsupportedInput = errors.New("unsupported input")
	// ErrEncrypted: the audio track is encrypted (e.g. CENC). It also
	// matches ErrUnsupportedInput.
	ErrEncrypted = errors.New("encrypted input")
	// ErrTooManyStreams: the input declares more streams than Limits allow.
	ErrTooManyStreams = errors.New("too many streams")
	// ErrUnsupportedFormat: the output format is not one of [Formats]; or,
	// for [ExtractFile] without Options.Format, the destination's extension
	// names none of them (no extension, or a video's such as .mp4), so
	// nothing tells which format is wanted. Nothing was written.
	ErrUnsupportedFormat = errors.New("unsupported output format")
	// ErrUnsupportedOption: an option cannot be honoured, such as 6 channels
	// in AMR or a stream copy the output container cannot hold.
	ErrUnsupportedOption = errors.New("unsupported option")
	// ErrStartBeyondEnd: Start lies at or after the end of the audio.
	ErrStartBeyondEnd = errors.New("start beyond end of audio")
	// ErrOutputLimit: the output would exceed Limits.MaxOutputDuration or
	// Limits.MaxOutputBytes.
	ErrOutputLimit = errors.New("output limit exceeded")
	// ErrCanceled: the context was canceled or its deadline passed. The
	// returned error also matches the context's own error.
	ErrCanceled = errors.New("canceled")
	// ErrOutputIsInput: [ExtractFile] was asked to write over its own
	// input: the destination is the source file, however it is named (the
	// same path, a hard link, a symlink). Nothing was written.
	ErrOutputIsInput = errors.New("output is the input file")
	// ErrOutput: writing the output failed (disk full, closed writer). The
	// underlying error, such as syscall.ENOSPC, is wrapped too.
	ErrOutput = errors.New("output write failed")
)
