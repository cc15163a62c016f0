package extract

// The few FFmpeg calls go-astiav v0.39.0 does not wrap. They take the raw
// pointers go-astiav exposes through UnsafePointer and never keep them.

//#cgo pkg-config: libavformat libavcodec libavutil
//#include <libavcodec/avcodec.h>
//#include <libavutil/audio_fifo.h>
//#include <libavutil/channel_layout.h>
//#include <libavutil/samplefmt.h>
//
//static const char *audex_profile_name(int id, int p) { return avcodec_profile_name(id, p); }
//static int audex_pkt_encrypted(AVPacket *p) {
//	return av_packet_get_side_data(p, AV_PKT_DATA_ENCRYPTION_INFO, NULL) != NULL;
//}
//#include <libavutil/opt.h>
//static int audex_shut_protocols(void *fc) { return av_opt_set(fc, "protocol_whitelist", "none", 0); }
//static int audex_initial_padding(AVCodecContext *c) { return c->initial_padding; }
//static int audex_small_last_frame(AVCodecContext *c) {
//	return (c->codec->capabilities & (AV_CODEC_CAP_SMALL_LAST_FRAME | AV_CODEC_CAP_VARIABLE_FRAME_SIZE)) != 0;
//}
//static int audex_has_delay(AVCodecContext *c) { return (c->codec->capabilities & AV_CODEC_CAP_DELAY) != 0; }
//static void audex_flush(AVCodecContext *c) { avcodec_flush_buffers(c); }
//static int audex_initial_padding_par(AVCodecParameters *p) { return p->initial_padding; }
//static int audex_trailing_padding_par(AVCodecParameters *p) { return p->trailing_padding; }
//static int audex_seek_preroll_par(AVCodecParameters *p) { return p->seek_preroll; }
//static void audex_set_initial_padding_par(AVCodecParameters *p, int n) { p->initial_padding = n; }
//static int audex_set_pkt_timebase(AVCodecContext *c, int num, int den) {
//	c->pkt_timebase = (AVRational){num, den};
//	return 0;
//}
//static AVAudioFifo *audex_fifo_alloc(int fmt, int channels) {
//	return av_audio_fifo_alloc(fmt, channels, 4096);
//}
//static void audex_fifo_free(AVAudioFifo *f) { av_audio_fifo_free(f); }
//static int audex_fifo_size(AVAudioFifo *f) { return av_audio_fifo_size(f); }
//// Writes samples [offset, offset+n) of a frame.
//static int audex_fifo_write(AVAudioFifo *f, AVFrame *fr, int offset, int n) {
//	void *ptrs[64];
//	int ch = fr->ch_layout.nb_channels;
//	int planar = av_sample_fmt_is_planar(fr->format);
//	int planes = planar ? ch : 1;
//	int step = av_get_bytes_per_sample(fr->format) * (planar ? 1 : ch);
//	if (planes > 64) return AVERROR(EINVAL);
//	for (int i = 0; i < planes; i++) ptrs[i] = fr->extended_data[i] + (size_t)offset * step;
//	return av_audio_fifo_write(f, ptrs, n);
//}
//static int audex_fifo_write_silence(AVAudioFifo *f, int fmt, int channels, int n) {
//	uint8_t **data = NULL;
//	int ret = av_samples_alloc_array_and_samples(&data, NULL, channels, n, fmt, 0);
//	if (ret < 0) return ret;
//	av_samples_set_silence(data, 0, n, channels, fmt);
//	ret = av_audio_fifo_write(f, (void **)data, n);
//	av_freep(&data[0]);
//	av_freep(&data);
//	return ret;
//}
//static int audex_fifo_read(AVAudioFifo *f, AVFrame *fr, int n) {
//	return av_audio_fifo_read(f, (void **)fr->extended_data, n);
//}
import "C"

import (
	"unsafe"

	"github.com/asticode/go-astiav"
)

func initialPadding(cc *astiav.CodecContext) int {
	return int(C.audex_initial_padding((*C.AVCodecContext)(cc.UnsafePointer())))
}

// codecParPtr is cp's C address: go-astiav v0.39.0's CodecParameters holds
// exactly that pointer as its only field (TestStreamStart fails if the
// layout changes).
func codecParPtr(cp *astiav.CodecParameters) *C.AVCodecParameters {
	return *(**C.AVCodecParameters)(unsafe.Pointer(cp))
}

// initialPaddingOf is the samples a stream's decoding starts with that are
// not played (Opus's pre-skip, Matroska's CodecDelay, at the codec's rate).
func initialPaddingOf(cp *astiav.CodecParameters) int {
	return int(C.audex_initial_padding_par(codecParPtr(cp)))
}

// setInitialPadding sets the samples a stream's decoding starts with that
// are not played (what the ogg muxer counts in Opus's granule positions).
func setInitialPadding(cp *astiav.CodecParameters, n int) {
	C.audex_set_initial_padding_par(codecParPtr(cp), C.int(n))
}

// seekPrerollOf is how many samples a decoder needs before the first one
// wanted after a seek (Matroska's SeekPreRoll, Ogg Opus's 80 ms).
func seekPrerollOf(cp *astiav.CodecParameters) int {
	return int(C.audex_seek_preroll_par(codecParPtr(cp)))
}

func profileName(id astiav.CodecID, p astiav.Profile) string {
	if n := C.audex_profile_name(C.int(id), C.int(p)); n != nil {
		return C.GoString(n)
	}
	return ""
}

// packetEncrypted reports whether a packet carries encryption info (CENC).
// go-astiav v0.39.0 has no accessor for a packet's C pointer; its Packet
// struct holds exactly that pointer as its only field (checked by
// TestHostileInputs/encrypted, which fails if the layout changes).
func packetEncrypted(p *astiav.Packet) bool {
	c := *(**C.AVPacket)(unsafe.Pointer(p))
	return c != nil && C.audex_pkt_encrypted(c) != 0
}

// shutProtocols empties fc's protocol whitelist: any later nested open is
// refused.
func shutProtocols(fc *astiav.FormatContext) error {
	return avErr(int(C.audex_shut_protocols(formatContextPtr(fc))))
}

func acceptsSmallLastFrame(cc *astiav.CodecContext) bool {
	return C.audex_small_last_frame((*C.AVCodecContext)(cc.UnsafePointer())) != 0
}

func hasDelay(cc *astiav.CodecContext) bool {
	return C.audex_has_delay((*C.AVCodecContext)(cc.UnsafePointer())) != 0
}

func flushDecoder(cc *astiav.CodecContext) {
	C.audex_flush((*C.AVCodecContext)(cc.UnsafePointer()))
}

func setPktTimebase(cc *astiav.CodecContext, tb astiav.Rational) {
	C.audex_set_pkt_timebase((*C.AVCodecContext)(cc.UnsafePointer()), C.int(tb.Num()), C.int(tb.Den()))
}

// fifo buffers converted samples between the resampler and a fixed-frame
// encoder, and lets the pipeline write part of a frame (trimming) or silence.
type fifo struct {
	c        *C.AVAudioFifo
	fmt      astiav.SampleFormat
	channels int
}

func newFIFO(f astiav.SampleFormat, channels int) *fifo {
	c := C.audex_fifo_alloc(C.int(f), C.int(channels))
	if c == nil {
		return nil
	}
	return &fifo{c: c, fmt: f, channels: channels}
}

func (q *fifo) free() {
	if q.c != nil {
		C.audex_fifo_free(q.c)
		q.c = nil
	}
}

func (q *fifo) size() int { return int(C.audex_fifo_size(q.c)) }

func (q *fifo) write(f *astiav.Frame, offset, n int) error {
	if n <= 0 {
		return nil
	}
	return avErr(int(C.audex_fifo_write(q.c, (*C.AVFrame)(f.UnsafePointer()), C.int(offset), C.int(n))))
}

func (q *fifo) writeSilence(n int) error {
	for n > 0 {
		chunk := min(n, 1<<16)
		if err := avErr(int(C.audex_fifo_write_silence(q.c, C.int(q.fmt), C.int(q.channels), C.int(chunk)))); err != nil {
			return err
		}
		n -= chunk
	}
	return nil
}

// read moves n samples into f, which must have a buffer for at least n.
func (q *fifo) read(f *astiav.Frame, n int) error {
	return avErr(int(C.audex_fifo_read(q.c, (*C.AVFrame)(f.UnsafePointer()), C.int(n))))
}

func avErr(ret int) error {
	if ret < 0 {
		return astiav.Error(ret)
	}
	return nil
}
