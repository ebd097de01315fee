// Package forms serves secure forms: an agent mints a one-time fill link, the
// visitor submits the form, and the submission is sealed into the vault for
// the agent to reveal once. Sub-package agent authenticates agents.
package forms
