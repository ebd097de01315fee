package agent

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// peerAddr is the address of the direct peer of r.
func peerAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return addr.Unmap().WithZone(""), true
}

func inAny(addr netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// fromTrustedProxy reports whether the direct peer of r is in
// trusted_proxies.
func (a *Auth) fromTrustedProxy(r *http.Request) bool {
	addr, ok := peerAddr(r)
	return ok && inAny(addr, a.trusted)
}

// clientAddr is the address of the client: the direct peer, or, when the
// peer is a trusted proxy, the last address in X-Forwarded-For that is not
// itself a trusted proxy.
func (a *Auth) clientAddr(r *http.Request) (netip.Addr, bool) {
	addr, ok := peerAddr(r)
	if !ok || !inAny(addr, a.trusted) {
		return addr, ok
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		hop, err := netip.ParseAddr(h)
		if err != nil {
			return addr, true // unparsable: stop at the last trusted hop
		}
		hop = hop.Unmap().WithZone("")
		addr = hop
		if !inAny(hop, a.trusted) {
			break
		}
	}
	return addr, true
}

// ClientIP is the client address used for allow_cidrs, rate limits and the
// audit trail: the direct peer, or the address a trusted proxy forwarded in
// X-Forwarded-For. It returns "unknown" when the address cannot be parsed.
func (a *Auth) ClientIP(r *http.Request) string {
	addr, ok := a.clientAddr(r)
	if !ok {
		return "unknown"
	}
	return addr.String()
}

// allowed reports whether r's client is in allow_cidrs; an empty list allows
// everyone.
func (a *Auth) allowed(r *http.Request) bool {
	if len(a.allow) == 0 {
		return true
	}
	addr, ok := a.clientAddr(r)
	return ok && inAny(addr, a.allow)
}

// Allowed reports whether r comes from a network in allow_cidrs (always
// true when the list is empty).
func (a *Auth) Allowed(r *http.Request) bool { return a.allowed(r) }
