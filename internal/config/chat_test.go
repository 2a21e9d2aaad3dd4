package config

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The console's keys as an operator writes them: a public main listener
// for the chat services and probes, the console on loopback of its own;
// or a console behind a proxy that is believed only from its addresses.
func TestConsoleKeys(t *testing.T) {
	prefixes := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	for _, tc := range []struct {
		name, top, web string
		want           WebConfig
		console        string // ConsoleListen()
	}{
		{"local console on the main listener", "", "{enabled: true}",
			WebConfig{Enabled: true, TrustedProxies: prefixes("127.0.0.0/8", "::1/128")}, "127.0.0.1:8080"},
		{"local console on a listener of its own", "listen: \"0.0.0.0:8080\"\n", "{enabled: true, listen: \"127.0.0.1:8081\"}",
			WebConfig{Enabled: true, Listen: "127.0.0.1:8081", TrustedProxies: prefixes("127.0.0.0/8", "::1/128")}, "127.0.0.1:8081"},
		{"local console on IPv6 loopback", "listen: \":8080\"\n", "{enabled: true, listen: \"[::1]:8081\"}",
			WebConfig{Enabled: true, Listen: "[::1]:8081", TrustedProxies: prefixes("127.0.0.0/8", "::1/128")}, "[::1]:8081"},
		{"both on port 0", "listen: \"127.0.0.1:0\"\n", "{enabled: true, listen: \"127.0.0.1:0\"}",
			WebConfig{Enabled: true, Listen: "127.0.0.1:0", TrustedProxies: prefixes("127.0.0.0/8", "::1/128")}, "127.0.0.1:0"},
		{"proxied console with its proxies", "listen: \"0.0.0.0:8080\"\n",
			"{enabled: true, user_header: X-Forwarded-User, trusted_proxies: [10.1.2.3/8, \"fd00::/8\", 192.0.2.7/32]}",
			WebConfig{Enabled: true, UserHeader: "X-Forwarded-User", TrustedProxies: prefixes("10.0.0.0/8", "fd00::/8", "192.0.2.7/32")}, "0.0.0.0:8080"},
		{"no proxies and nothing to believe", "", "{enabled: true, trusted_proxies: []}",
			WebConfig{Enabled: true, TrustedProxies: []netip.Prefix{}}, "127.0.0.1:8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := tc.top + strings.Replace(valid, "apps:\n", "chat: {web: "+tc.web+"}\napps:\n", 1)
			c, err := Parse([]byte(text), noVars)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, c.Chat.Web, prefixesEqual); diff != "" {
				t.Errorf("chat.web (-want +got):\n%s", diff)
			}
			if got := c.ConsoleListen(); got != tc.console {
				t.Errorf("ConsoleListen() = %q, want %q", got, tc.console)
			}
		})
	}
}
