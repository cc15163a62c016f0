package testmedia

/*
#cgo pkg-config: libavcodec
#cgo LDFLAGS: -Wl,--wrap=avcodec_open2
#include <libavcodec/avcodec.h>

// The link of every test binary that imports testmedia routes each call to
// avcodec_open2 -- audex's own, go-astiav's and the ones FFmpeg makes inside
// avformat_find_stream_info -- through this wrapper, which counts the
// decoder openings that succeeded and those refused, by media type.
int __real_avcodec_open2(AVCodecContext *avctx, const AVCodec *codec, AVDictionary **options);

static long opened[AVMEDIA_TYPE_NB], refused[AVMEDIA_TYPE_NB];

int __wrap_avcodec_open2(AVCodecContext *avctx, const AVCodec *codec, AVDictionary **options) {
	int ret = __real_avcodec_open2(avctx, codec, options);
	const AVCodec *c = codec ? codec : avctx->codec;
	if (c && av_codec_is_decoder(c) && c->type >= 0 && c->type < AVMEDIA_TYPE_NB) {
		__atomic_add_fetch(ret < 0 ? &refused[c->type] : &opened[c->type], 1, __ATOMIC_RELAXED);
	}
	return ret;
}

static int video_decoders(void) {
	void *it = NULL;
	const AVCodec *c;
	int n = 0;
	while ((c = av_codec_iterate(&it))) {
		n += av_codec_is_decoder(c) && c->type == AVMEDIA_TYPE_VIDEO;
	}
	return n;
}

static long decoder_opens(int type, int ok) {
	return __atomic_load_n(ok ? &opened[type] : &refused[type], __ATOMIC_RELAXED);
}
*/
import "C"

// DecoderOpens reports how many video and audio decoders FFmpeg has opened
// in this process so far, and how many openings it refused (a codec
// whitelist, say). It sees every call, including those FFmpeg makes for
// itself while reading stream information.
type DecoderOpens struct {
	Video, VideoRefused, Audio, AudioRefused int
}

// CountDecoderOpens returns the process's decoder openings so far.
func CountDecoderOpens() DecoderOpens {
	n := func(t C.enum_AVMediaType, ok C.int) int { return int(C.decoder_opens(C.int(t), ok)) }
	return DecoderOpens{
		Video:        n(C.AVMEDIA_TYPE_VIDEO, 1),
		VideoRefused: n(C.AVMEDIA_TYPE_VIDEO, 0),
		Audio:        n(C.AVMEDIA_TYPE_AUDIO, 1),
		AudioRefused: n(C.AVMEDIA_TYPE_AUDIO, 0),
	}
}

// VideoDecoders is how many video decoders the linked FFmpeg has: none in
// the build audex ships (build.sh's lib profile), which links audio decoders
// only.
func VideoDecoders() int { return int(C.video_decoders()) }
