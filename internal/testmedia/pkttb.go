package testmedia

//#cgo pkg-config: libavcodec
//#include <libavcodec/avcodec.h>
//static void testmedia_set_pkt_timebase(AVCodecContext *c, int num, int den) {
//	c->pkt_timebase = (AVRational){num, den};
//}
import "C"

import "github.com/asticode/go-astiav"

// setPktTimebase tells a decoder its packets' time base, as FFmpeg's own
// programs do: a decoder that drops samples at the start (Opus's pre-skip)
// then dates the frame it trims by its first kept sample.
func setPktTimebase(cc *astiav.CodecContext, tb astiav.Rational) {
	C.testmedia_set_pkt_timebase((*C.AVCodecContext)(cc.UnsafePointer()), C.int(tb.Num()), C.int(tb.Den()))
}
