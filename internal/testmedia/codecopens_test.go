package testmedia

import (
	"testing"

	"github.com/asticode/go-astiav"
)

// The counter sees an opening made through go-astiav, so a zero count in
// another test means no opening happened.
func TestCountDecoderOpens(t *testing.T) {
	before := CountDecoderOpens()
	dec := astiav.FindDecoder(astiav.CodecIDAac)
	if dec == nil {
		t.Fatal("no aac decoder in this build")
	}
	cc := astiav.AllocCodecContext(dec)
	defer cc.Free()
	if err := cc.Open(dec, nil); err != nil {
		t.Fatal(err)
	}
	if got := CountDecoderOpens(); got.Audio != before.Audio+1 || got.Video != before.Video {
		t.Fatalf("after opening one aac decoder: %+v, before %+v", got, before)
	}
}
