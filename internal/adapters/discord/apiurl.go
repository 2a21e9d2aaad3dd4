package discord

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiClient is client (nil: one with a 30 s timeout) sending Discord's
// API requests to apiURL instead, when it is set (checked by Validate).
func apiClient(client *http.Client, apiURL string) *http.Client {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	if apiURL == "" {
		return client
	}
	u, _ := url.Parse(apiURL)
	c := *client
	c.Transport = rewriteHost{base: client.Transport, scheme: u.Scheme, host: u.Host, prefix: strings.TrimSuffix(u.Path, "/")}
	return &c
}

// rewriteHost sends every request to another scheme and host, below the
// prefix of api_url's path (a proxy's, say): discordgo fixes its
// endpoints' host when it loads.
type rewriteHost struct {
	base                 http.RoundTripper
	scheme, host, prefix string
}

func (t rewriteHost) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = t.scheme, t.host, t.host
	if t.prefix != "" {
		r.URL.Path, r.URL.RawPath = t.prefix+r.URL.Path, ""
	}
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(r)
	if err != nil {
		// The client names the URL discordgo asked for; say where the
		// request went, so a log line points at api_url.
		return nil, &sentTo{url: r.URL.Scheme + "://" + r.URL.Host + r.URL.Path, err: err}
	}
	return resp, nil
}

// sentTo is a failed request's error, naming the URL it was sent to.
type sentTo struct {
	url string
	err error
}

func (e *sentTo) Error() string { return "sent to " + e.url + ": " + e.err.Error() }
func (e *sentTo) Unwrap() error { return e.err }

// Timeout keeps the request's timeout visible through the wrapping, as
// url.Error reports it.
func (e *sentTo) Timeout() bool {
	t, ok := e.err.(interface{ Timeout() bool })
	return ok && t.Timeout()
}
