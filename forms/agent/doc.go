// Package agent authenticates agents: API tokens, local accounts with
// argon2id passwords and mandatory TOTP, sessions with idle logoff, single
// sign-on through a trusted identity header, CIDR allow lists, rate limits,
// CSRF protection and the security headers on every page Veil serves.
package agent
