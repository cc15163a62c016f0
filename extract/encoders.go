package extract

import (
	"fmt"
	"slices"
	"time"

	"github.com/asticode/go-astiav"
)

// encSpec is what one output format needs from the pipeline.
type encSpec struct {
	muxer   string
	encoder string
	codec   astiav.CodecID // the codec a stream copy must carry
	// rates the encoder accepts; nil means any up to maxRate.
	rates       []int
	maxRate     int
	maxChannels int
	// signalsDelay: the container tells decoders to drop the encoder's
	// priming (LAME tag, MP4 edit list, Ogg granules).
	signalsDelay bool
	// trim is how the container signals samples to drop at both ends of a
	// copied stream, for exact copies (see trimKind).
	trim trimKind
	// roundTrip, for containers that cannot signal priming, says how a
	// standard decoder's output lags the encoder's input: decoded[i] =
	// input[i-delay], and how many leading frames the decoder itself
	// swallows. Measured on this FFmpeg build (see TestSampleAccuracy).
	roundTrip func(enc *astiav.CodecContext) (delay, decoderDrops int)
	// bitrate returns the default bit rate for a channel count (0: leave
	// the encoder's own choice).
	bitrate func(channels int) int64
	// vbrQuality, when set, encodes in the codec's quality mode (at this
	// -q value) unless the caller asks for a bit rate: it suits every rate
	// and channel count, where a fixed default bit rate does not.
	vbrQuality int
	// seekableOutput: the muxer patches its header at the end, so a
	// non-seekable writer gets the output through a spool file.
	seekableOutput bool
	// layouts the codec carries with the right channel positions, where
	// the encoder does not list them itself (FFmpeg's AAC, Vorbis, FLAC
	// and WMA encoders take others and mislabel or refuse them). nil:
	// the encoder's own list, or any layout when it has none (PCM).
	layouts []astiav.ChannelLayout
	// splice says how segments encoded at once are stitched (segments.go);
	// the zero value keeps one encoder.
	splice spliceRule
}

// Channel layouts by codec. Vorbis (and Opus, whose mapping family 1 is
// Vorbis's) and FLAC fix the channel order for each count
// (ff_vorbis_ch_layouts, flac_channel_layouts: what their decoders report); AAC takes its channel configurations and the layouts it can
// describe with a PCE (aacenc.c).
var (
	vorbisLayouts = []astiav.ChannelLayout{astiav.ChannelLayoutMono, astiav.ChannelLayoutStereo,
		astiav.ChannelLayoutSurround, astiav.ChannelLayoutQuad, astiav.ChannelLayout5Point0Back,
		astiav.ChannelLayout5Point1Back, astiav.ChannelLayout6Point1, astiav.ChannelLayout7Point1}
	flacLayouts = []astiav.ChannelLayout{astiav.ChannelLayoutMono, astiav.ChannelLayoutStereo,
		astiav.ChannelLayoutSurround, astiav.ChannelLayoutQuad, astiav.ChannelLayout5Point0,
		astiav.ChannelLayout5Point1, astiav.ChannelLayout6Point1, astiav.ChannelLayout7Point1}
	aacLayouts = []astiav.ChannelLayout{astiav.ChannelLayoutMono, astiav.ChannelLayoutStereo,
		astiav.ChannelLayout2Point1, astiav.ChannelLayout21, astiav.ChannelLayoutSurround,
		astiav.ChannelLayout3Point1, astiav.ChannelLayout4Point0, astiav.ChannelLayout4Point1,
		astiav.ChannelLayout22, astiav.ChannelLayoutQuad, astiav.ChannelLayout5Point0,
		astiav.ChannelLayout5Point1, astiav.ChannelLayout5Point0Back, astiav.ChannelLayout5Point1Back,
		astiav.ChannelLayout6Point0, astiav.ChannelLayout6Point0Front, astiav.ChannelLayoutHexagonal,
		astiav.ChannelLayout6Point1, astiav.ChannelLayout6Point1Back, astiav.ChannelLayout6Point1Front,
		astiav.ChannelLayout7Point0, astiav.ChannelLayout7Point0Front, astiav.ChannelLayout7Point1,
		astiav.ChannelLayout7Point1Wide, astiav.ChannelLayout7Point1WideBack, astiav.ChannelLayoutOctagonal}
	monoStereo = []astiav.ChannelLayout{astiav.ChannelLayoutMono, astiav.ChannelLayoutStereo}
)

var aacRates = []int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

func perChannel(bps, max int64) func(int) int64 {
	return func(ch int) int64 { return min(bps*int64(ch), max) }
}

var specs = map[Format]encSpec{
	MP3: {muxer: "mp3", encoder: "libmp3lame", codec: astiav.CodecIDMp3,
		rates:   []int{48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000},
		maxRate: 48000, maxChannels: 2, signalsDelay: true, seekableOutput: true,
		bitrate: perChannel(64000, 320000), trim: trimLAME,
		// LAME's filterbanks overlap a frame on either side, and a frame's
		// main data reaches at most 511 bytes back (a few frames); its
		// psychoacoustics settle within a few frames more.
		splice: spliceRule{kind: spliceMP3, pre: 8, post: 2}},
	WAV: {muxer: "wav", encoder: "pcm_s16le", codec: astiav.CodecIDPcmS16Le,
		maxRate: 384000, maxChannels: 8, signalsDelay: true, seekableOutput: true},
	AAC: {muxer: "adts", encoder: "aac", codec: astiav.CodecIDAac, rates: aacRates,
		maxRate: 96000, maxChannels: 8, bitrate: perChannel(64000, 512000),
		roundTrip: encoderPriming, layouts: aacLayouts, splice: aacSplice},
	M4A: {muxer: "ipod", encoder: "aac", codec: astiav.CodecIDAac, rates: aacRates,
		maxRate: 96000, maxChannels: 8, signalsDelay: true, seekableOutput: true,
		bitrate: perChannel(64000, 512000), layouts: aacLayouts, trim: trimEditList, splice: aacSplice},
	OGG: {muxer: "ogg", encoder: "libvorbis", codec: astiav.CodecIDVorbis,
		maxRate: 192000, maxChannels: 8, signalsDelay: true, vbrQuality: 4, layouts: vorbisLayouts},
	FLAC: {muxer: "flac", encoder: "flac", codec: astiav.CodecIDFlac,
		maxRate: 384000, maxChannels: 8, signalsDelay: true, seekableOutput: true, layouts: flacLayouts,
		splice: spliceRule{kind: spliceFLAC}},
	WMA: {muxer: "asf", encoder: "wmav2", codec: astiav.CodecIDWmav2,
		rates: []int{48000, 44100, 32000, 22050, 16000, 11025, 8000}, maxRate: 48000,
		maxChannels: 2, seekableOutput: true, bitrate: perChannel(64000, 128000), layouts: monoStereo,
		// FFmpeg's WMA decoder outputs nothing for the first frame: the
		// round trip runs one frame early.
		roundTrip: func(enc *astiav.CodecContext) (int, int) { return -enc.FrameSize(), 1 },
		splice:    spliceRule{kind: spliceOverlap, pre: 2, post: 1}},
	AC3: {muxer: "ac3", encoder: "ac3", codec: astiav.CodecIDAc3,
		rates: []int{48000, 44100, 32000}, maxRate: 48000, maxChannels: 6,
		bitrate:   func(ch int) int64 { return []int64{0, 96000, 192000, 256000, 320000, 384000, 448000}[ch] },
		roundTrip: encoderPriming, splice: spliceRule{kind: spliceOverlap, pre: 2, post: 1}},
	// Opus decoders play at 48 kHz whatever rate it was encoded at.
	OPUS: {muxer: "opus", encoder: "libopus", codec: astiav.CodecIDOpus,
		rates: []int{48000}, maxRate: 48000, maxChannels: 8,
		signalsDelay: true, layouts: vorbisLayouts, trim: trimOgg},
	AMR: {muxer: "amr", encoder: "libopencore_amrnb", codec: astiav.CodecIDAmrNb,
		rates: []int{8000}, maxRate: 8000, maxChannels: 1,
		bitrate: func(int) int64 { return 12200 },
		// libopencore-amrnb declares 50 samples of priming; the decoded
		// signal lags the input by 40.
		roundTrip: func(*astiav.CodecContext) (int, int) { return 40, 0 }},
}

// aacSplice: a packet's MDCT spans its frame and the one before, and the
// encoder looks a frame ahead to choose its windows, but FFmpeg's encoder
// also carries long-lived state: its rate control settles over tens of
// frames, and its psychoacoustic model's bit demand is scaled by the
// largest perceptual entropy it has seen (aacpsy.c, pe.max, which never
// decreases). Seconds of pre-roll bring a segment's encoder to where a
// continuous one is: with 1 s or less, the first second after a splice
// ran 8 to 10 dB below the rest (TestSegmentSplices fails). It is what
// segments cost in CPU (README, Benchmarks).
var aacSplice = spliceRule{kind: spliceOverlap, pre: 2, preroll: 3 * time.Second, post: 2}

func encoderPriming(enc *astiav.CodecContext) (int, int) { return initialPadding(enc), 0 }

// encParams is the output audio format chosen for a source and options.
type encParams struct {
	rate    int
	layout  astiav.ChannelLayout
	fmt     astiav.SampleFormat
	bitrate int64
}

// chooseParams picks what the encoder gets: the source's rate and layout
// where the encoder takes them, the nearest it does otherwise, and exactly
// what the caller asked for or ErrUnsupportedOption.
func chooseParams(sp encSpec, codec *astiav.Codec, o Options, srcRate int, srcLayout astiav.ChannelLayout, srcFmt astiav.SampleFormat) (encParams, error) {
	var p encParams

	rate := srcRate
	if o.SampleRate > 0 {
		rate = o.SampleRate
		if (sp.rates != nil && !slices.Contains(sp.rates, rate)) || rate > sp.maxRate {
			return p, fmt.Errorf("%w: %s cannot encode %d Hz (supported: %v)", ErrUnsupportedOption, o.Format, rate, ratesText(sp))
		}
	} else if sp.rates != nil {
		rate = nearestRate(sp.rates, srcRate)
	} else {
		rate = min(rate, sp.maxRate)
	}
	p.rate = rate

	ch := srcLayout.Channels()
	if o.Channels > 0 {
		if o.Channels > sp.maxChannels {
			return p, fmt.Errorf("%w: %s holds at most %d channels, %d requested", ErrUnsupportedOption, o.Format, sp.maxChannels, o.Channels)
		}
		ch = o.Channels
	}
	ch = min(max(ch, 1), sp.maxChannels)
	supported := sp.layouts
	if supported == nil {
		supported = codec.ChannelLayouts()
	}
	p.layout = chooseLayout(supported, ch, srcLayout)
	if !p.layout.Valid() {
		return p, fmt.Errorf("%w: %s cannot encode %d channels", ErrUnsupportedOption, o.Format, ch)
	}

	fmts := codec.SampleFormats()
	switch {
	case len(fmts) == 0:
		p.fmt = srcFmt
	case slices.Contains(fmts, srcFmt):
		p.fmt = srcFmt
	default:
		p.fmt = fmts[0]
	}

	if o.Bitrate > 0 {
		p.bitrate = int64(o.Bitrate)
	} else if sp.bitrate != nil {
		p.bitrate = sp.bitrate(p.layout.Channels())
	}
	return p, nil
}

func nearestRate(rates []int, want int) int {
	best := rates[0]
	for _, r := range rates {
		if abs(r-want) < abs(best-want) || (abs(r-want) == abs(best-want) && r > best) {
			best = r
		}
	}
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func ratesText(sp encSpec) string {
	if sp.rates == nil {
		return fmt.Sprintf("up to %d Hz", sp.maxRate)
	}
	return fmt.Sprint(sp.rates)
}

// chooseLayout keeps the source layout when the count matches and the
// encoder takes it (supported, or any when that is empty), else audex's
// default layout for the count where the encoder takes it, else the
// encoder's first layout with that count.
func chooseLayout(supported []astiav.ChannelLayout, ch int, src astiav.ChannelLayout) astiav.ChannelLayout {
	if src.Channels() == ch && src.Valid() {
		if len(supported) == 0 {
			return src
		}
		for _, l := range supported {
			if l.Equal(src) {
				return l
			}
		}
	}
	if len(supported) == 0 {
		return defaultLayout(ch)
	}
	def := defaultLayout(ch)
	for _, l := range supported {
		if l.Equal(def) {
			return l
		}
	}
	for _, l := range supported {
		if l.Channels() == ch {
			return l
		}
	}
	return astiav.ChannelLayout{}
}
