# audex: multi-stage build. The builder runs the very same FFmpeg build script
# and Make target as a developer machine and CI; the runtime image carries only
# the binary and the shared codec libraries it links (FFmpeg itself is static).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY . .
RUN apt-get update \
 && internal/ffmpeg/build.sh \
 && make build

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates zlib1g libmp3lame0 libvorbis0a libvorbisenc2 libogg0 libopus0 \
      libopencore-amrnb0 libopencore-amrwb0 libvo-amrwbenc0 libopenh264-7 libvpx7 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/audex --create-home audex
COPY --from=build /src/bin/audex /usr/local/bin/audex
USER audex
WORKDIR /var/lib/audex
ENV AUDEX_ADDR=:8080 AUDEX_DATA_DIR=/var/lib/audex
EXPOSE 8080
ENTRYPOINT ["audex"]
CMD ["serve"]
