package testmedia

import (
	"testing"

	"github.com/asticode/go-astiav"
)

// The counter sees an opening made through go-astiav, so a zero count in
// another test means no opening happened.
func TestCountDecoderOpens(t *testing.T) {
	before := CountDecoderOpens()
	dec := astiav.FindDecoder(astiav.CodecIDH264)
	if dec == nil {
		t.Fatal("no h264 decoder in this build")
	}
	cc := astiav.AllocCodecContext(dec)
	defer cc.Free()
	if err := cc.Open(dec, nil); err != nil {
		t.Fatal(err)
	}
	if got := CountDecoderOpens(); got.Video != before.Video+1 || got.Audio != before.Audio {
		t.Fatalf("after opening one h264 decoder: %+v, before %+v", got, before)
	}
}
