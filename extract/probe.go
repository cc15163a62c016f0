package extract

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/asticode/go-astiav"
)

// Probe identifies the container and lists its audio tracks without decoding
// the audio. A nil limits means the defaults.
func Probe(ctx context.Context, src io.Reader, limits *Limits) (*Info, error) {
	if src == nil {
		return nil, fmt.Errorf("probe: %w: nil reader", ErrUnsupportedOption)
	}
	return probe(ctx, source{r: src}, limits)
}

// ProbeFile is Probe on the file at path.
func ProbeFile(ctx context.Context, path string, limits *Limits) (*Info, error) {
	return probe(ctx, source{path: path}, limits)
}

func probe(ctx context.Context, src source, limits *Limits) (*Info, error) {
	var lim Limits
	if limits != nil {
		lim = *limits
	}
	lim = lim.withDefaults()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("probe: %w: %w", ErrCanceled, err)
	}
	in, err := openInput(ctx, src, lim, nil)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	defer in.close()
	fc := in.fc
	info := &Info{
		Container:         fc.InputFormat().Name(),
		ContainerLongName: fc.InputFormat().LongName(),
		Streams:           fc.NbStreams(),
		AudioTracks:       audioTracks(fc, in.t0),
	}
	if d := fc.Duration(); d > 0 && d != astiav.NoPtsValue {
		info.Duration = time.Duration(d) * time.Microsecond
	}
	if b := fc.BitRate(); b > 0 {
		info.Bitrate = b
	}
	if len(info.AudioTracks) > 0 {
		info.BestTrack = bestTrack(fc, info.AudioTracks)
	}
	return info, nil
}

// isAudioTrack is what Probe lists and Extract can select: an audio stream
// whose parameters the demuxer found (a sample rate or a channel count). A
// stream only declared, with not one packet of it within the probe limits
// (an MPEG-TS PMT's, or random bytes taken for an MP3 header), has none and
// is no track: there is nothing in it to decode.
func isAudioTrack(cp *astiav.CodecParameters) bool {
	return cp.MediaType() == astiav.MediaTypeAudio && (cp.SampleRate() > 0 || cp.ChannelLayout().Channels() > 0)
}

// audioTracks describes the audio tracks (see isAudioTrack), with times on
// the presentation timeline (zero = the container's start).
func audioTracks(fc *astiav.FormatContext, t0 int64) []AudioTrack {
	usTB := astiav.NewRational(1, 1_000_000)
	var tracks []AudioTrack
	for _, s := range fc.Streams() {
		cp := s.CodecParameters()
		if !isAudioTrack(cp) {
			continue
		}
		t := AudioTrack{
			Track:      len(tracks) + 1,
			Index:      s.Index(),
			Codec:      cp.CodecID().Name(),
			SampleRate: cp.SampleRate(),
			Channels:   cp.ChannelLayout().Channels(),
			Bitrate:    cp.BitRate(),
			Default:    s.DispositionFlags().Has(astiav.DispositionFlagDefault),
		}
		if l := cp.ChannelLayout(); l.Valid() {
			t.ChannelLayout = l.String()
		}
		if p := cp.Profile(); p != astiav.ProfileUnknown {
			t.Profile = profileName(cp.CodecID(), p)
		}
		if md := s.Metadata(); md != nil {
			if e := md.Get("language", nil, 0); e != nil && e.Value() != "und" {
				t.Language = e.Value()
			}
			if e := md.Get("title", nil, 0); e != nil {
				t.Title = e.Value()
			}
		}
		if st := streamStart(fc, s); st != astiav.NoPtsValue {
			t.Start = time.Duration(astiav.RescaleQ(st, s.TimeBase(), usTB)-t0) * time.Microsecond
		}
		if d := s.Duration(); d > 0 && d != astiav.NoPtsValue {
			t.Duration = time.Duration(astiav.RescaleQ(d, s.TimeBase(), usTB)) * time.Microsecond
		} else if d := fc.Duration(); d > 0 && d != astiav.NoPtsValue {
			t.Duration = time.Duration(d)*time.Microsecond - t.Start
		}
		tracks = append(tracks, t)
	}
	return tracks
}
