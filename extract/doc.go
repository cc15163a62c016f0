// Package extract pulls one audio track out of a video, in-process on
// FFmpeg's libraries (through github.com/asticode/go-astiav), cut exactly
// where the caller asks and encoded in the format asked.
//
//	res, err := extract.ExtractFile(ctx, "clip.mp3", "talk.mp4", &extract.Options{
//		Start:    83*time.Second + 250*time.Millisecond,
//		Duration: 2 * time.Second,
//	})
//
// [Extract] and [Probe] take any io.Reader (and write to any io.Writer);
// [ExtractFile] and [ProbeFile] work on paths. [Peaks] and [PeaksFile] draw
// a track's waveform (min/max per column) from its audio alone, sampled
// for long inputs so that the work stays bounded. A nil *Options means all
// defaults: the whole of FFmpeg's best audio track, as MP3 from Extract and
// in the format the destination's extension names from ExtractFile.
//
// # Use audex in your own module
//
// The package links audex's pinned static FFmpeg through cgo. After
// requiring github.com/audex/audex, build from your module's directory with:
//
//	eval "$(go run github.com/audex/audex/cmd/audex-env)"
//	go build
//
// or keep that environment for every later go command:
//
//	go env -w $(go run github.com/audex/audex/cmd/audex-env -format goenv)
//	go build
//
// audex-env builds FFmpeg once into ~/.cache/audex/ffmpeg (installing its
// Debian build dependencies with apt) and prints CGO_ENABLED, CGO_CPPFLAGS,
// PKG_CONFIG and PKG_CONFIG_PATH. The program it builds links FFmpeg and
// every codec library statically and needs only the C runtime to run.
//
// # Your files
//
// ProbeFile only reads. ExtractFile takes the destination first
// (ExtractFile(ctx, dst, src, opts), as io.Copy) and refuses, before it
// creates anything, the calls that would write over a file the caller
// meant to keep:
//
//   - a destination that is the source, however named (a hard link, a
//     symlink, a "./" variant): [ErrOutputIsInput];
//   - without Options.Format, a destination whose extension names no audio
//     format, instead of guessing MP3: [ErrUnsupportedFormat]. That includes
//     .mp4, the usual name of the video being read, so that swapped paths
//     (ExtractFile(ctx, "talk.mp4", "clip.mp3", nil)) fail rather than
//     replace the video; for AAC in MP4 name the file .m4a or set
//     Options.Format = M4A. With Format set, any name is accepted;
//   - a destination that exists and is not a regular file (a directory, a
//     device): [ErrUnsupportedOption].
//
// Otherwise the output goes to a temporary file beside the destination,
// renamed into place only once complete: a failed extraction leaves the
// destination as it was.
//
// # Sample accuracy
//
// The timeline is the input's presentation timeline as a player shows it:
// zero is the start of the file, audio that starts after the video starts
// late on it, and the audio is what FFmpeg decodes continuously from the
// beginning (skip-samples side data, edit lists and Opus pre-skip honoured).
// An Opus track starts at its first played sample: the pre-skip before it
// (Ogg's header, Matroska's CodecDelay) moves neither the file's zero nor
// the track's start. Packet times a container rounded to the millisecond
// (FLV, Matroska) are put back on the codec's frame grid, so a cut at any
// start is the continuous decode from that sample.
// The first output sample is the source sample at Start, and the output
// holds exactly Duration × rate samples as a standard decoder plays the file
// back. Encoder priming is signalled where the container can carry it (the
// LAME tag in MP3, an edit list in M4A, granule positions in Ogg) and
// compensated where it cannot (ADTS AAC, AC-3, AMR, WMA), so decoded output
// lines up with the source to within one sample; where end padding cannot be
// signalled the output runs past Duration by less than one codec frame.
// Cutting deep into a long file seeks first, so it costs what a cut near the
// start does.
//
// # Formats
//
// Inputs: MP4, MOV, 3GP, Matroska/WebM, FLV, AVI, MPEG-TS/PS and the common
// audio-only containers. Outputs: see [Formats]. The audio is resampled,
// remixed and converted to whatever each encoder accepts (AMR-NB: 8 kHz
// mono; WMA and MP3: at most stereo; AC-3: at most 5.1 at 32, 44.1 or
// 48 kHz), keeping the source's rate and layout where the encoder takes
// them. Every channel layout of up to 64 channels is taken: one in a custom
// order is put in FFmpeg's order, one FFmpeg's downmix rules refuse
// (asymmetric, no front channel) or would thin out (top, wide channels) is
// mixed with an explicit matrix, and channels of unknown positions take
// the usual layout for their count (WAVE's order, hexadecagonal for 16) or
// are dealt out in turn to the output's channels.
//
// With [CopyAuto], packets are copied unchanged when the container takes
// the source codec and the copy is exact; [Result].Copied says so. A copied
// cut is exact where the container signals the samples to drop at both
// ends: an edit list in m4a, the LAME tag's encoder delay and padding in
// mp3. The packets a decoder needs before the cut are copied too (AAC's
// overlap, MP3's bit reservoir), and a decoder plays back exactly the
// source's samples from Start for Duration.
//
// # Long outputs on several cores
//
// An output of 30 s or more in MP3, AAC, M4A, AC-3, WMA or FLAC is
// decoded once, cut into segments of whole encoder frames and encoded on up
// to Options.Parallelism encoders at once (default GOMAXPROCS; 1 keeps one
// encoder). Each segment's encoder starts early enough (pre-roll: AAC 3 s,
// for the encoder's rate control and psychoacoustic state; MP3 8 frames;
// AC-3 and WMA 2) and runs a little past its end (post-roll) that the
// frames kept around a splice are what one encoder gives up to
// quantisation noise; the pre- and post-roll packets are dropped and the
// rest stitched, in order, into one gapless stream of the same packets and
// timestamps, so priming, padding and length are signalled exactly as
// with one encoder. MP3 frames are laid out again across the bit reservoir
// at each splice; FLAC frames are renumbered and STREAMINFO (frame sizes,
// total samples, MD5) written for the whole stream. Vorbis, Opus, AMR and
// WAV keep one encoder.
//
// # Hostile input
//
// Only the chosen audio stream is read and decoded (every other stream is
// discarded at the demuxer, and audex's FFmpeg build has no video decoder);
// a path is read by FFmpeg's file protocol, every protocol shut once it is
// open, and a reader through Go callbacks, so no input can make FFmpeg open
// another file or URL; probing, stream count, output duration and size and decoder
// threads are bounded by [Limits]. Errors wrap the package's sentinels
// ([ErrNoAudio], [ErrUnrecognizedInput], [ErrStartBeyondEnd], ...) together
// with FFmpeg's message; compare with errors.Is.
//
// # Cancellation and concurrency
//
// The context is checked between packets, in every read callback and by
// FFmpeg's interrupt callback; on return every C object has been freed.
// Extractions are independent and may run in parallel; the only
// process-wide state is FFmpeg's log callback ([SetFFmpegLogLevel]), whose
// lines are routed to the Options.Logger of the extraction that caused them.
package extract
