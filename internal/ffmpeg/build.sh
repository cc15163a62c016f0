#!/usr/bin/env bash
# Builds the pinned, minimal, static FFmpeg 7.1.x that audex links against, from
# Debian 13 (trixie)'s source package. One script for the Makefile, CI, the
# Dockerfile and cmd/audex-env (which embeds this very file, so a program in
# another module builds against audex the same way).
#
# Each profile's install lands in a cache outside the clone, keyed by FFmpeg
# version and a hash of the configure flags, so a second run costs nothing:
#   ${AUDEX_FFMPEG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/audex/ffmpeg}/<version>-<flags hash>/
# Nothing is written anywhere else (but the apt packages it installs), so it
# runs as well from a read-only copy of the module: invoke it through bash.
#
# Usage: bash build.sh [--profile lib|tools] [--cached]
#   --profile  lib (default): what audex links; tools: ffmpeg/ffprobe for
#              fixtures and benchmarks (see below).
#   --cached   build nothing: print the prefix of a finished build, or fail.
#   The last line of stdout is the install prefix. Progress goes to stderr.
#   A lib install has bin/audex-pkg-config, pkg-config pointed at its own
#   .pc files: the one variable `go build` needs is PKG_CONFIG=<that>.
set -euo pipefail

PROFILE=lib
CACHED_ONLY=
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) PROFILE=${2:?--profile needs lib or tools}; shift 2 ;;
    --profile=*) PROFILE=${1#--profile=}; shift ;;
    --cached) CACHED_ONLY=1; shift ;;
    --print-prefix) shift ;; # the prefix is always printed; kept for old callers
    *) printf 'ffmpeg-build: ERROR: unknown argument %s\n' "$1" >&2; exit 2 ;;
  esac
done

CACHE=${AUDEX_FFMPEG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/audex/ffmpeg}
log() { printf 'ffmpeg-build: %s\n' "$*" >&2; }
die() { printf 'ffmpeg-build: ERROR: %s\n' "$*" >&2; exit 1; }

# Debian packages needed to build FFmpeg and to link audex against it.
BUILD_DEPS=(
  build-essential pkg-config nasm xz-utils dpkg-dev ca-certificates
  zlib1g-dev libmp3lame-dev libvorbis-dev libogg-dev libopus-dev
  libopencore-amrnb-dev libopencore-amrwb-dev libvo-amrwbenc-dev
  libopenh264-dev libvpx-dev
)

join() { local IFS=,; echo "$*"; }

# Two builds from the one source, each in its own cache directory:
#
#   lib    what audex and every program built on its library link: audio in
#          from the listed containers, audio out in the formats audex writes.
#          No video decoder or encoder, no filter, no device, no program: audex
#          whitelists audio decoders only, so anything more would be attack
#          surface and size. The codec libraries it uses (LAME, Vorbis, Ogg,
#          opencore-amrnb, Opus, zlib) are linked statically too: the .pc files name
#          their Debian .a archives, so a binary depends on the C runtime only.
#   tools  the test and benchmark tooling: the ffmpeg and ffprobe programs that
#          make fixtures (lavfi sources, H.264/VP8/MPEG-4 video, every muxer)
#          and serve as the benchmark baseline, a superset of lib.
DEMUXERS=(mov matroska flv live_flv avi mpegts mpegps mp3 aac wav w64 ogg flac ac3 eac3
  amr amrnb amrwb asf asf_o aiff caf dts truehd mlp)
AUDIO_DECODERS=(aac aac_fixed aac_latm mp1 mp1float mp2 mp2float mp3 mp3float mp3adu opus
  vorbis flac alac ac3 ac3_fixed eac3 truehd mlp dca wmav1 wmav2 wmapro wmalossless
  amrnb amrwb nellymoser speex gsm gsm_ms
  pcm_s8 pcm_u8 pcm_s16le pcm_s16be pcm_u16le pcm_s24le pcm_s24be pcm_s32le pcm_s32be
  pcm_f32le pcm_f32be pcm_f64le pcm_f64be pcm_alaw pcm_mulaw pcm_dvd pcm_bluray
  adpcm_ima_wav adpcm_ima_qt adpcm_ms adpcm_swf adpcm_g726 adpcm_yamaha)
# Parsers time and split the packets of every stream while the demuxer reads
# stream information, video included; no decoder is involved.
PARSERS=(aac aac_latm ac3 mpegaudio opus vorbis flac amr dca mlp
  h264 hevc mpeg4video h263 vp8 vp9 mjpeg)

case "$PROFILE" in
lib)
  ENCODERS=(libmp3lame pcm_s16le aac libvorbis flac wmav2 ac3 libopencore_amrnb libopus)
  MUXERS=(mp3 wav adts ogg oga opus flac asf ac3 amr ipod)
  CONFIGURE_FLAGS=(
    --enable-static --disable-shared --enable-pic
    --disable-autodetect --disable-everything --disable-doc --disable-debug
    --disable-network --disable-postproc --enable-version3 --disable-programs
    --enable-zlib --enable-libmp3lame --enable-libvorbis --enable-libopencore-amrnb --enable-libopus
    --enable-protocol=file,pipe
    --enable-demuxer="$(join "${DEMUXERS[@]}")"
    --enable-decoder="$(join "${AUDIO_DECODERS[@]}")"
    --enable-encoder="$(join "${ENCODERS[@]}")"
    --enable-muxer="$(join "${MUXERS[@]}")"
    --enable-parser="$(join "${PARSERS[@]}")"
    --enable-bsf=aac_adtstoasc
  )
  ;;
tools)
  VIDEO_DECODERS=(h264 hevc mpeg4 h263 flv vp8 vp9 mjpeg rawvideo wrapped_avframe)
  ENCODERS=(libmp3lame pcm_s16le pcm_s24le pcm_f32le aac libvorbis flac wmav2 ac3
    libopencore_amrnb libopus libvo_amrwbenc mp2
    libopenh264 mpeg4 h263 flv libvpx_vp8 rawvideo wrapped_avframe)
  MUXERS=(mp3 wav adts ogg oga opus flac asf ac3 eac3 amr ipod mp4 mov tgp matroska webm
    flv avi mpegts null w64)
  BSFS=(aac_adtstoasc h264_mp4toannexb hevc_mp4toannexb vp9_superframe vp9_superframe_split
    extract_extradata null)
  FILTERS=(abuffer abuffersink buffer buffersink aresample aformat anull atrim asetpts
    asetnsamples aevalsrc sine anullsrc anoisesrc volume pan amerge join apad asplit concat
    testsrc testsrc2 color nullsrc format scale null trim setpts fps split)
  CONFIGURE_FLAGS=(
    --enable-static --disable-shared --enable-pic
    --disable-autodetect --disable-everything --disable-doc --disable-debug
    --disable-network --disable-postproc --enable-version3
    --disable-programs --enable-ffmpeg --enable-ffprobe
    --enable-zlib --enable-libmp3lame --enable-libvorbis --enable-libopus
    --enable-libopencore-amrnb --enable-libopencore-amrwb --enable-libvo-amrwbenc
    --enable-libopenh264 --enable-libvpx
    --enable-protocol=file,pipe
    --enable-indev=lavfi
    --enable-demuxer="$(join "${DEMUXERS[@]}")"
    --enable-decoder="$(join "${AUDIO_DECODERS[@]}" "${VIDEO_DECODERS[@]}")"
    --enable-encoder="$(join "${ENCODERS[@]}")"
    --enable-muxer="$(join "${MUXERS[@]}")"
    --enable-parser="$(join "${PARSERS[@]}")"
    --enable-bsf="$(join "${BSFS[@]}")"
    --enable-filter="$(join "${FILTERS[@]}")"
  )
  ;;
*) die "unknown profile '$PROFILE' (want lib or tools)" ;;
esac
FLAGS_HASH=$(printf '%s\n' "${CONFIGURE_FLAGS[@]}" | sha256sum | cut -c1-12)

ensure_deps() {
  local missing=()
  for p in "${BUILD_DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing build dependencies: ${missing[*]}"
  local sudo=; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# A finished build for these flags, any 7.1.x version (newest first).
cached_prefix() {
  local d
  for d in $(ls -d "$CACHE"/7.1.*-"$FLAGS_HASH" 2>/dev/null | sort -V -r); do
    [ -f "$d/.complete" ] && { echo "$d"; return; }
  done
}

# FFmpeg's static .pc files name the codec libraries as -lNAME, which the
# linker resolves to the shared library. Name the static archive instead
# (-l:libNAME.a, accepted by cgo's flag check) for every library but the C
# runtime (libc, libm, libpthread, libdl, librt), each followed by what it
# needs in its turn (pkg-config --static, where the library has a .pc file:
# libvorbisenc needs libvorbis, which needs libogg). Idempotent.
static_codec_libs() {
  local pc line w name dep out
  for pc in "$1"/lib/pkgconfig/*.pc; do
    out=
    while IFS= read -r line; do
      case "$line" in
      Libs*:*)
        local words=()
        read -r -a words <<<"$line"
        line=
        for w in "${words[@]}"; do
          case "$w" in
          -lc|-lm|-lpthread|-ldl|-lrt|-lav*|-lsw*|-l:*) ;;
          -l*)
            name=${w#-l}
            w=
            for dep in $(pkg-config --static --libs-only-l "$name" 2>/dev/null || echo "-l$name"); do
              case "$dep" in
              -lc|-lm|-lpthread|-ldl|-lrt) ;;
              -l*)
                [ -f "$(${CC:-cc} -print-file-name="lib${dep#-l}.a")" ] \
                  || die "no static archive for $dep (install its Debian -dev package)"
                dep="-l:lib${dep#-l}.a" ;;
              esac
              w+="${w:+ }$dep"
            done ;;
          esac
          line+="${line:+ }$w"
        done ;;
      esac
      out+="$line"$'\n'
    done <"$pc"
    printf '%s' "$out" >"$pc"
  done
}

# bin/audex-pkg-config: pkg-config over this install's .pc files. Go reads
# only the first word of $PKG_CONFIG, so the search path lives in the script.
write_pkg_config() {
  local real
  real=$(command -v pkg-config) || die "pkg-config not found"
  mkdir -p "$1/bin"
  cat >"$1/bin/audex-pkg-config" <<WRAP
#!/bin/sh
# pkg-config for the audex FFmpeg build in this directory (written by build.sh).
PKG_CONFIG_PATH='$1/lib/pkgconfig'\${PKG_CONFIG_PATH:+:\$PKG_CONFIG_PATH} exec '$real' "\$@"
WRAP
  chmod 755 "$1/bin/audex-pkg-config"
}

if [ -n "$CACHED_ONLY" ]; then
  prefix=$(cached_prefix || true)
  [ -n "$prefix" ] || die "no finished $PROFILE build in $CACHE"
  echo "$prefix"
  exit 0
fi

ensure_deps
# One build at a time per cache: a second caller waits, then finds the result.
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
prefix=$(cached_prefix || true)
if [ -n "$prefix" ]; then
  log "using cached $PROFILE build $prefix"
  echo "$prefix"
  exit 0
fi

sudo=; [ "$(id -u)" -ne 0 ] && sudo=sudo
src_list=/etc/apt/sources.list.d/audex-trixie-src.list
if [ ! -f "$src_list" ]; then
  log "adding deb-src entry for trixie ($src_list)"
  echo "deb-src http://deb.debian.org/debian trixie main" | $sudo tee "$src_list" >/dev/null
fi
$sudo apt-get update -qq

work=$(mktemp -d "${TMPDIR:-/tmp}/audex-ffmpeg.XXXXXX")
chmod 755 "$work" # apt-get source drops privileges to _apt
trap 'rm -rf "$work"' EXIT
log "fetching ffmpeg source package from trixie"
(cd "$work" && apt-get source --download-only -qq ffmpeg/trixie >&2)
orig=$(ls "$work"/ffmpeg_*.orig.tar.xz 2>/dev/null | head -1)
[ -n "$orig" ] || die "apt-get source did not produce an ffmpeg_*.orig.tar.xz"
version=$(basename "$orig" | sed -E 's/^ffmpeg_([^-]+)\.orig\.tar\.xz$/\1/')
case "$version" in
  7.1.*) log "got ffmpeg $version" ;;
  *) die "trixie's ffmpeg is $version, not 7.1.x: go-astiav v0.39.0 needs the FFmpeg 7.1 API. Refusing to build." ;;
esac

prefix="$CACHE/$version-$FLAGS_HASH"
rm -rf "$prefix"
mkdir -p "$work/src" "$CACHE"
tar -xJf "$orig" -C "$work/src" --strip-components=1
log "configuring into $prefix (flags hash $FLAGS_HASH)"
(cd "$work/src" && ./configure --prefix="$prefix" "${CONFIGURE_FLAGS[@]}" >"$work/configure.log" 2>&1) \
  || { tail -40 "$work/configure.log" >&2; die "configure failed"; }
jobs=$(nproc)
log "building with $jobs jobs (a few minutes)"
start=$(date +%s)
(cd "$work/src" && make -j"$jobs" >"$work/make.log" 2>&1 && make install >>"$work/make.log" 2>&1) \
  || { tail -60 "$work/make.log" >&2; die "build failed"; }
static_codec_libs "$prefix"
write_pkg_config "$prefix"
printf '%s\n' "${CONFIGURE_FLAGS[@]}" >"$prefix/configure-flags.txt"
echo "$version" >"$prefix/version.txt"
touch "$prefix/.complete"
log "built ffmpeg $version ($PROFILE) in $(( $(date +%s) - start ))s"
echo "$prefix"
