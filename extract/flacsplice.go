package extract

// FLAC from segments: frames stand alone, but each header numbers its frame
// (fixed block size) or first sample (variable) from the encoder's first,
// under a CRC-8, and the frame ends with a CRC-16 of all of it; STREAMINFO
// (carried by the encoder's last, empty packet as new extradata, which the
// flac muxer writes over the header's at the end) sums the whole stream:
// frame sizes, total samples and the MD5 of the PCM. flacJoin renumbers
// each kept frame from the stream's start and writes STREAMINFO anew.

//#cgo pkg-config: libavcodec libavutil
//#include <libavcodec/avcodec.h>
//#include <libavutil/samplefmt.h>
//
//static int audex_bits_per_raw_sample(AVCodecContext *c) { return c->bits_per_raw_sample; }
//static uint8_t *audex_new_extradata(AVPacket *p, size_t *size) {
//	return av_packet_get_side_data(p, AV_PKT_DATA_NEW_EXTRADATA, size);
//}
//static uint8_t *audex_frame_bytes(AVFrame *f, int *n) {
//	*n = f->nb_samples * f->ch_layout.nb_channels * av_get_bytes_per_sample(f->format);
//	return f->data[0];
//}
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"unsafe"

	"github.com/asticode/go-astiav"
)

func bitsPerRawSample(cc *astiav.CodecContext) int {
	return int(C.audex_bits_per_raw_sample((*C.AVCodecContext)(cc.UnsafePointer())))
}

// flacJoin carries what stitching FLAC segments needs across them.
type flacJoin struct {
	md5     hash.Hash // of the PCM as FLAC's STREAMINFO defines it
	bits    int       // the encoder's bits per sample
	samples int64     // samples encoded
	frames  uint64    // frames written
	minSize int       // smallest and largest frame written, in bytes
	maxSize int
	pcm     []byte
}

// sum adds a frame sent to the encoders (packed s16 or s32, as FLAC's
// encoder takes them) to the MD5, as FFmpeg's encoder does: little-endian
// samples of (bits+7)/8 bytes, the top bits of s32.
func (j *flacJoin) sum(f *astiav.Frame) {
	var n C.int
	ptr := C.audex_frame_bytes((*C.AVFrame)(f.UnsafePointer()), &n)
	j.samples += int64(f.NbSamples())
	if ptr == nil || n <= 0 {
		return
	}
	raw := unsafe.Slice((*byte)(unsafe.Pointer(ptr)), int(n))
	switch {
	case j.bits <= 16:
		j.md5.Write(raw) // s16, little-endian on every platform audex builds for
	default:
		width := (j.bits + 7) / 8
		j.pcm = j.pcm[:0]
		for i := 0; i+4 <= len(raw); i += 4 {
			v := int32(binary.LittleEndian.Uint32(raw[i:]))
			if width == 3 {
				v >>= 8
			}
			j.pcm = append(j.pcm, byte(v), byte(v>>8), byte(v>>16))
			if width == 4 {
				j.pcm = append(j.pcm, byte(v>>24))
			}
		}
		j.md5.Write(j.pcm)
	}
}

// next renumbers a kept packet's frame, or, for the encoder's last (empty)
// packet, rewrites the STREAMINFO it carries for the whole stream.
func (j *flacJoin) next(p *astiav.Packet) error {
	if p.Size() > 0 {
		frame, err := flacRenumber(p.Data(), j.frames)
		if err != nil {
			return err
		}
		if err := setPacketData(p, frame); err != nil {
			return fmt.Errorf("flac: %w", err)
		}
		j.frames++
		if j.minSize == 0 || len(frame) < j.minSize {
			j.minSize = len(frame)
		}
		j.maxSize = max(j.maxSize, len(frame))
	}
	var size C.size_t
	if ptr := C.audex_new_extradata(*(**C.AVPacket)(unsafe.Pointer(p)), &size); ptr != nil && size == 34 {
		si := unsafe.Slice((*byte)(unsafe.Pointer(ptr)), 34)
		flacStreamInfo(si, j.minSize, j.maxSize, j.samples, j.md5.Sum(nil))
	}
	return nil
}

// flacStreamInfo writes frame sizes, total samples and the MD5 into a
// 34-byte STREAMINFO block, keeping block sizes, rate, channels and bits.
func flacStreamInfo(si []byte, minSize, maxSize int, samples int64, sum []byte) {
	put24 := func(b []byte, v int) { b[0], b[1], b[2] = byte(v>>16), byte(v>>8), byte(v) }
	put24(si[4:], minSize)
	put24(si[7:], maxSize)
	// 36 bits of total samples: the low 4 bits of byte 13, then 4 bytes.
	si[13] = si[13]&0xF0 | byte(samples>>32)&0x0F
	binary.BigEndian.PutUint32(si[14:], uint32(samples))
	copy(si[18:], sum)
}

var errFLACFrame = errors.New("flac: not a frame the encoder writes")

// flacRenumber returns frame with its header numbering it frame num of the
// stream and both CRCs recomputed. FFmpeg's encoder writes fixed block
// sizes (sync 0xFFF8), whose headers number frames, not samples.
func flacRenumber(frame []byte, num uint64) ([]byte, error) {
	if len(frame) < 7 || frame[0] != 0xFF || frame[1] != 0xF8 {
		return nil, errFLACFrame
	}
	at := 4
	l := flacUTF8Len(frame[at])
	if l == 0 || len(frame) < at+l {
		return nil, errFLACFrame
	}
	end := at + l
	switch frame[2] >> 4 { // block size code: 8 or 16 bits follow
	case 6:
		end++
	case 7:
		end += 2
	}
	switch frame[2] & 0x0F { // sample rate code
	case 12:
		end++
	case 13, 14:
		end += 2
	}
	if len(frame) < end+1+2 || flacCRC8(frame[:end]) != frame[end] {
		return nil, errFLACFrame
	}
	out := make([]byte, 0, len(frame)+6)
	out = append(out, frame[:at]...)
	out = flacAppendUTF8(out, num)
	out = append(out, frame[at+l:end]...)
	out = append(out, flacCRC8(out))
	out = append(out, frame[end+1:len(frame)-2]...)
	return binary.BigEndian.AppendUint16(out, flacCRC16(out)), nil
}

// flacUTF8Len is the length of the UTF-8-like coded number whose first
// byte is b (FLAC extends UTF-8 to 7 bytes, 36 bits); 0 when invalid.
func flacUTF8Len(b byte) int {
	switch {
	case b&0x80 == 0:
		return 1
	case b&0xE0 == 0xC0:
		return 2
	case b&0xF0 == 0xE0:
		return 3
	case b&0xF8 == 0xF0:
		return 4
	case b&0xFC == 0xF8:
		return 5
	case b&0xFE == 0xFC:
		return 6
	case b == 0xFE:
		return 7
	}
	return 0
}

func flacAppendUTF8(b []byte, v uint64) []byte {
	if v < 0x80 {
		return append(b, byte(v))
	}
	n := 2 // bytes: each continuation carries 6 bits, the first 7-n
	for n < 7 && v >= 1<<(5*n+1) {
		n++
	}
	b = append(b, byte(0xFF<<(8-n))|byte(v>>(6*(n-1))))
	for i := n - 2; i >= 0; i-- {
		b = append(b, 0x80|byte(v>>(6*i))&0x3F)
	}
	return b
}

func flacCRC8(b []byte) byte {
	var crc byte
	for _, x := range b {
		crc ^= x
		for range 8 {
			if crc&0x80 != 0 {
				crc = crc<<1 ^ 0x07
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// flacCRC16 is a frame's CRC-16 (polynomial 0x8005), a table lookup a
// byte: it runs over every byte of a segmented FLAC output, where the
// bitwise loop cost more than FFmpeg's encoder itself.
func flacCRC16(b []byte) uint16 {
	var crc uint16
	for _, x := range b {
		crc = crc<<8 ^ flacCRC16Table[byte(crc>>8)^x]
	}
	return crc
}

var flacCRC16Table = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x8005
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()
