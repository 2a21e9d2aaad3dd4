package config

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The console's keys as an operator writes them: a local console, or one
// behind a proxy that is believed only from its addresses.
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
	}{
		{"local console on the main listener", "", "{enabled: true}",
			WebConfig{Enabled: true, TrustedProxies: prefixes("127.0.0.0/8", "::1/128")}},
		{"proxied console with its proxies", "listen: \"0.0.0.0:8080\"\n",
			"{enabled: true, user_header: X-Forwarded-User, trusted_proxies: [10.1.2.3/8, \"fd00::/8\", 192.0.2.7/32]}",
			WebConfig{Enabled: true, UserHeader: "X-Forwarded-User", TrustedProxies: prefixes("10.0.0.0/8", "fd00::/8", "192.0.2.7/32")}},
		{"no proxies and nothing to believe", "", "{enabled: true, trusted_proxies: []}",
			WebConfig{Enabled: true, TrustedProxies: []netip.Prefix{}}},
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
		})
	}
}
