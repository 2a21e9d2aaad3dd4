package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// buildChat checks the chat platforms' keys.
func buildChat(d *decoder, raw *rawConfig, c *Config) error {
	if err := buildWeb(d, raw, c); err != nil {
		return err
	}
	if err := buildSlack(d, raw, c); err != nil {
		return err
	}
	if token, _ := raw.Chat.Discord.Scalar("bot_token"); token != "" {
		// An unset ${DISCORD_BOT_TOKEN} leaves Discord off.
		c.Chat.Discord = raw.Chat.Discord
	}
	return nil
}

// buildWeb checks the console's keys: whom it believes, and where it
// listens. A local console (no user header) must listen on loopback only.
func buildWeb(d *decoder, raw *rawConfig, c *Config) error {
	r := raw.Chat.Web
	w := WebConfig{Enabled: r.Enabled, UserHeader: r.UserHeader, Listen: r.Listen, TrustedProxies: LoopbackProxies()}
	if h := w.UserHeader; h != "" && !isHeaderName(h) {
		return d.errorf("chat.web.user_header", "invalid header name %q", h)
	}
	if w.Listen != "" {
		_, port, err := net.SplitHostPort(w.Listen)
		if err != nil {
			return d.errorf("chat.web.listen", "want host:port such as %q, got %q", "127.0.0.1:8081", w.Listen)
		}
		if w.Listen == c.Listen && port != "0" {
			return d.errorf("chat.web.listen", "%q is listen's address too: leave chat.web.listen out to serve the console there", w.Listen)
		}
	}
	if r.TrustedProxies != nil {
		proxies, err := trustedProxies(d, *r.TrustedProxies, w.UserHeader)
		if err != nil {
			return err
		}
		w.TrustedProxies = proxies
	}
	if w.Enabled {
		key, listen := "listen", c.Listen
		if w.Listen != "" {
			key, listen = "chat.web.listen", w.Listen
		}
		if err := CheckConsoleListen(listen, w.UserHeader); err != nil {
			return d.errorf(key, "%v", err)
		}
	}
	c.Chat.Web = w
	return nil
}

// trustedProxies checks chat.web.trusted_proxies: address ranges, none of
// them every address, and at least one when there is a user header to
// believe.
func trustedProxies(d *decoder, list []string, userHeader string) ([]netip.Prefix, error) {
	const path = "chat.web.trusted_proxies"
	if len(list) == 0 && userHeader != "" {
		return nil, d.errorf(path, "empty: nobody could sign in, as %s is believed only from these addresses (leave the key out for loopback only)", userHeader)
	}
	proxies := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, d.errorf(index(path, i), "want an address range such as 10.0.0.0/8 or 192.0.2.7/32, got %q", s)
		}
		if p.Bits() == 0 {
			return nil, d.errorf(index(path, i), "%s trusts every address: anyone who reaches the console could name any user", s)
		}
		proxies = append(proxies, p.Masked())
	}
	return proxies, nil
}

// isHeaderName reports whether s is a valid HTTP header name (an RFC 9110
// token).
func isHeaderName(s string) bool {
	for _, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", c):
		default:
			return false
		}
	}
	return s != ""
}

// buildSlack checks the Slack keys. Empty values (an unset ${VAR}) leave the
// adapter off; a bot token without a way to verify requests is refused.
func buildSlack(d *decoder, raw *rawConfig, c *Config) error {
	r := raw.Chat.Slack
	s := SlackConfig{BotToken: r.BotToken, SigningSecret: r.SigningSecret, AppToken: r.AppToken,
		APIURL: r.APIURL, AnnounceChannel: r.AnnounceChannel}
	if s.BotToken == "" {
		c.Chat.Slack = SlackConfig{}
		return nil
	}
	if !strings.HasPrefix(s.BotToken, "xoxb-") {
		return d.errorf("chat.slack.bot_token", "want a bot token starting with xoxb-")
	}
	if s.AppToken != "" && !strings.HasPrefix(s.AppToken, "xapp-") {
		return d.errorf("chat.slack.app_token", "want an app-level token starting with xapp-")
	}
	if s.AppToken == "" && s.SigningSecret == "" {
		return d.errorf("chat.slack.signing_secret", "required to verify Slack's requests (or set app_token for Socket Mode)")
	}
	if s.APIURL != "" {
		u, err := url.Parse(s.APIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return d.errorf("chat.slack.api_url", "want an http(s) URL such as https://slack.com/api/, got %q", s.APIURL)
		}
		if !strings.HasSuffix(s.APIURL, "/") {
			s.APIURL += "/"
		}
	}
	c.Chat.Slack = s
	return nil
}

// LoopbackProxies is the default of chat.web.trusted_proxies: a proxy on
// this machine.
func LoopbackProxies() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// CheckConsoleListen refuses a local console (no user header) on an
// address other than loopback: anyone who could reach it could pick any
// name.
func CheckConsoleListen(listen, userHeader string) error {
	if userHeader != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("listen %q: %v", listen, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q is not a loopback address, and a local console (no chat.web.user_header) lets anyone who reaches it pick any user: "+
		"set chat.web.user_header behind an authenticating proxy, or serve the console on 127.0.0.1", listen)
}
