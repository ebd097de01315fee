// Package agent authenticates agents, the support staff who read diverted
// values and secure form submissions.
//
// Agents prove who they are in one of three ways, checked in this order by
// RequireAgent:
//
//   - an API token (Authorization: Bearer TOKEN); the config holds only the
//     token's hex SHA-256, compared in constant time with every token;
//   - single sign-on: the identity header (X-Forwarded-User unless
//     identity_header says otherwise) set by an authenticating proxy, taken
//     only when the direct peer is in trusted_proxies and removed from
//     every other request;
//   - a local account: name, argon2id-hashed password and a mandatory TOTP
//     code on the login page, which opens a session.
//
// Sessions live in process memory: a restart signs every agent out (a
// config reload through WithConfig does not). A session ends after
// idle_timeout without a request (15 minutes by default) and after
// session_lifetime in any case (12 hours). The session cookie is HttpOnly,
// SameSite=Strict, Path=/veil/, and Secure when Veil serves TLS.
//
// allow_cidrs guards every agent endpoint, the login page included; an
// empty list allows every address. Behind a trusted proxy, the client
// address is the last X-Forwarded-For hop that is not itself a trusted
// proxy. Failed logins, tokens and reveals are counted per client address
// and per account; over the budget the answer is 429 with Retry-After.
//
// Forms are protected against cross-site requests with a token bound to
// the session, or, for forms shown without a login, a double-submit token
// bound to a signed cookie. SecurityHeaders sets the content security
// policy and the other security headers on every page Veil serves.
//
// Passwords, codes, tokens and session ids never reach a log line, an
// error or the audit trail.
package agent
