package web

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"shipmate/internal/runbook"
)

// Who may reach the console. A local console (no user header) answers only
// requests addressed to a loopback name of its own listener, so that a page
// whose domain re-resolves to 127.0.0.1 (DNS rebinding) is not the console's
// origin. Behind a proxy, the user header is believed only from the
// proxy's addresses, and reads need a role.

// LoopbackProxies are the trusted proxies when none are configured: a proxy
// on the bot's own machine.
func LoopbackProxies() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// admit answers, and returns false for, a request the console must not
// act on: on a local console one not addressed to it by a loopback name;
// behind a proxy one carrying the user header from anywhere but the proxy.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request) bool {
	if h.opt.UserHeader == "" {
		if err := localRequest(r); err != nil {
			refuse(w, http.StatusMisdirectedRequest, err.Error())
			return false
		}
		return true
	}
	if len(r.Header.Values(h.opt.UserHeader)) > 0 && !h.trusted(r.RemoteAddr) {
		// The header's value is whatever the sender chose: not logged.
		h.opt.Log.Warn().Str("source", r.RemoteAddr).Str("method", r.Method).Str("path", r.URL.Path).
			Str("header", h.opt.UserHeader).Msg("web: user header from an address that is not a trusted proxy refused")
		refuse(w, http.StatusUnauthorized, "the "+h.opt.UserHeader+
			" header is only accepted from a trusted proxy (chat.web.trusted_proxies)")
		return false
	}
	return true
}

// trusted reports whether remote (host:port, as in Request.RemoteAddr) is
// one of the trusted proxies.
func (h *Handler) trusted(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	proxies := h.opt.TrustedProxies
	if proxies == nil {
		proxies = LoopbackProxies()
	}
	for _, p := range proxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// localRequest checks that a request to a local console names it by a
// loopback address or localhost and the port it came in on, and that a
// state-changing request's Origin, when the browser sends one, does too.
func localRequest(r *http.Request) error {
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return errors.New("this console answers only on its own listener")
	}
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return errors.New("this console answers only on its own listener")
	}
	if !loopbackAuthority(r.Host, port) {
		return fmt.Errorf("this console answers only to 127.0.0.1:%s, [::1]:%s or localhost:%s, not to %q", port, port, port, r.Host)
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !loopbackAuthority(u.Host, port) {
			return fmt.Errorf("cross-origin request refused: %q is not this console", o)
		}
	}
	return nil
}

// loopbackAuthority reports whether hostport (a Host header or an origin's
// host) names a loopback address or localhost with port; without a port,
// it stands for port 80.
func loopbackAuthority(hostport, port string) bool {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		host, p = hostport, "80"
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		}
	}
	if p != port {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// signedIn lets a read through only with the proxy's user header, when
// the console has one, and only for someone who holds a role: a proxy
// route that forgot authentication, or a colleague without a role, must
// not see the runs, their trails and output. A local console (loopback
// only, its users the configured people) reads freely, and so does the
// holder of the read key.
func (h *Handler) signedIn(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.opt.UserHeader == "" || h.readKey(r) {
			next(w, r)
			return
		}
		u, err := h.user(r, "")
		if err != nil {
			refuse(w, http.StatusUnauthorized, err.Error())
			return
		}
		if err := h.eng.MayRead(r.Context(), u); err != nil {
			if runbook.ErrorCode(err) != runbook.EForbidden {
				h.opt.Log.Error().Err(err).Msg("web: check who may read")
				refuse(w, http.StatusInternalServerError, "cannot check your roles")
				return
			}
			refuse(w, http.StatusForbidden, runbook.ErrorMessage(err))
			return
		}
		next(w, r)
	}
}

// readKey reports whether r carries the console's read key as a bearer
// token.
func (h *Handler) readKey(r *http.Request) bool {
	if h.opt.ReadKey == "" {
		return false
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(token), []byte(h.opt.ReadKey)) == 1
}
