# Shipmate: a static binary on a small Debian base (the exec executor and
# the demo scripts need a POSIX shell).
#
#   docker build --build-arg VERSION=0.1.0 -t shipmate:0.1.0 .
#
# Base images are pinned to exact releases (Go 1.26.8; Debian 12.13's
# dated slim image). Pin them by digest too where your registry allows:
# FROM golang:1.26.8-bookworm@sha256:….
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The same sources give the same binary: no paths of this machine
# (-trimpath), no VCS data (.git stays out of the context), no build id
# that depends on the machine. VERSION is stamped into main.version, for
# `bot version` (the linker skips it in a binary that declares none).
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
    -ldflags="-s -w -buildid= -X main.version=${VERSION}" -o /out/bot ./cmd/bot

FROM debian:bookworm-20260202-slim
ARG VERSION=dev
LABEL org.opencontainers.image.title="shipmate" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# A numeric user (65532), so that Kubernetes' runAsNonRoot can check it:
# the Helm chart's runAsUser is the same number.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 65532 shipmate \
    && useradd --system --uid 65532 --gid 65532 --home-dir /var/lib/shipmate --no-create-home shipmate \
    && install -d -o 65532 -g 65532 -m 0750 /var/lib/shipmate /var/lib/shipmate/data \
    && ln -s /etc/shipmate /var/lib/shipmate/configs
COPY --from=build /out/bot /usr/local/bin/bot
COPY configs /etc/shipmate
# The demo scripts are referenced relative to the working directory
# (configs/ is /etc/shipmate); the store and the running steps go to data/.
WORKDIR /var/lib/shipmate
USER 65532:65532
VOLUME /var/lib/shipmate/data
EXPOSE 8080
# tini reaps what deploy scripts leave running in the background.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/bot"]
# configs/container.yaml: chat endpoints, probes and metrics on 0.0.0.0:8080,
# the web console off. Mount your own file and pass --config to replace it.
CMD ["--config", "/etc/shipmate/container.yaml"]
