# Shipmate: a static binary on a small Debian base (the exec executor and
# the demo scripts need a POSIX shell).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/bot ./cmd/bot

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/shipmate --create-home shipmate
COPY --from=build /out/bot /usr/local/bin/bot
COPY configs /etc/shipmate
WORKDIR /var/lib/shipmate
USER shipmate
# The demo scripts are referenced relative to the working directory.
RUN ln -s /etc/shipmate configs
VOLUME /var/lib/shipmate/data
EXPOSE 8080
# A local web console must listen on loopback: in a container, put the
# console behind an authenticating proxy and set chat.web.user_header, or
# mount your own configuration with Slack or Discord.
# tini reaps what deploy scripts leave running in the background.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/bot"]
CMD ["--config", "/etc/shipmate/shipmate.yaml"]
