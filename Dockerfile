# audex: multi-stage build. The builder runs the very same FFmpeg build script
# and Make target as a developer machine and CI. The binary links FFmpeg and
# every codec library statically and needs only the C runtime, so the runtime
# image adds nothing to Debian's slim image but CA certificates (for URL
# inputs over https).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY . .
RUN apt-get update && make build

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/audex --create-home audex
COPY --from=build /src/bin/audex /usr/local/bin/audex
USER audex
WORKDIR /var/lib/audex
ENV AUDEX_ADDR=:8080 AUDEX_DATA_DIR=/var/lib/audex
EXPOSE 8080
ENTRYPOINT ["audex"]
CMD ["serve"]
