package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Errors the proxy refuses a message with. writeError maps each to a status
// and a JSON body; none of them carries a scanned value or a URL.
var (
	errTooLarge            = errors.New("body exceeds max_body")
	errUnsupportedEncoding = errors.New("unsupported content encoding")
	errTooManyStreams      = errors.New("too many concurrent streams")
	errShuttingDown        = errors.New("proxy is shutting down")
	errUpgradeRefused      = errors.New("protocol upgrade not allowed on this route")
)

// blockedError refuses a message because a detector whose action is block
// found something in it. It names the types found, never the values.
type blockedError struct {
	Types []string
}

func (e *blockedError) Error() string {
	return "blocked: found " + strings.Join(e.Types, ", ")
}

// policyError refuses a request by route policy: an endpoint or a file
// upload the route blocks.
type policyError struct {
	Reason string // "endpoint" or "file_upload"
}

func (e *policyError) Error() string { return "blocked by route policy: " + e.Reason }

// bodyError is a body that cannot be parsed or decoded on a scanned route.
type bodyError struct {
	Kind string // json, form, multipart, text, gzip, deflate
	Err  error
}

func (e *bodyError) Error() string { return "reading " + e.Kind + " body: " + e.Err.Error() }
func (e *bodyError) Unwrap() error { return e.Err }

// scanError is a failure of the detectors engine (including a scan that ran
// out of time): the message is refused, nothing is forwarded.
type scanError struct {
	Err error
}

func (e *scanError) Error() string { return "scanning: " + e.Err.Error() }
func (e *scanError) Unwrap() error { return e.Err }

// divertError is a Diverter that failed to keep an original value.
type divertError struct {
	Err error
}

func (e *divertError) Error() string { return "diverting: " + e.Err.Error() }
func (e *divertError) Unwrap() error { return e.Err }

// secureCommandError is a failure of Options.SecureCommand.
type secureCommandError struct {
	Err error
}

func (e *secureCommandError) Error() string { return "secure command: " + e.Err.Error() }
func (e *secureCommandError) Unwrap() error { return e.Err }

// responseError wraps a failure to scan an upstream response.
type responseError struct {
	Err error
}

func (e *responseError) Error() string { return "response: " + e.Err.Error() }
func (e *responseError) Unwrap() error { return e.Err }

// upstreamTimeoutError is an upstream that did not answer in time.
type upstreamTimeoutError struct{}

func (upstreamTimeoutError) Error() string { return "upstream timed out" }

// errorBody is the JSON every refusal is written as.
type errorBody struct {
	Error     string   `json:"error"`
	Code      string   `json:"code"`
	Types     []string `json:"types,omitempty"`
	RequestID string   `json:"request_id,omitempty"`
}

// classify maps err to an HTTP status and a body. It is the one place that
// decides how a failure looks to a client; messages are fixed texts, so no
// error detail (which may hold an input fragment or a URL) reaches the client.
// A status of 0 means the client is gone and nothing should be written.
func classify(err error) (int, errorBody) {
	var (
		blocked  *blockedError
		policy   *policyError
		body     *bodyError
		scan     *scanError
		divert   *divertError
		secure   *secureCommandError
		response *responseError
		maxBytes *http.MaxBytesError
	)
	direction := "request"
	if errors.As(err, &response) {
		direction = "response"
	}
	switch {
	case errors.As(err, &blocked):
		return http.StatusUnprocessableEntity, errorBody{
			Error: "the " + direction + " contains data that may not be sent", Code: "blocked", Types: blocked.Types,
		}
	case errors.As(err, &policy):
		if policy.Reason == "file_upload" {
			return http.StatusForbidden, errorBody{Error: "file uploads are not allowed on this endpoint", Code: "file_upload_blocked"}
		}
		return http.StatusForbidden, errorBody{Error: "this endpoint is blocked", Code: "endpoint_blocked"}
	case errors.Is(err, errTooLarge), errors.As(err, &maxBytes):
		if direction == "response" {
			return http.StatusBadGateway, errorBody{Error: "the upstream response exceeds the size limit", Code: "response_too_large"}
		}
		return http.StatusRequestEntityTooLarge, errorBody{Error: "the request body exceeds the size limit", Code: "body_too_large"}
	case errors.Is(err, errUnsupportedEncoding):
		if direction == "response" {
			return http.StatusBadGateway, errorBody{Error: "the upstream response uses an encoding that cannot be scanned", Code: "response_unscannable"}
		}
		return http.StatusUnsupportedMediaType, errorBody{Error: "the request uses a content encoding that cannot be scanned", Code: "unsupported_encoding"}
	case errors.As(err, &body):
		if direction == "response" {
			return http.StatusBadGateway, errorBody{Error: "the upstream response could not be parsed for scanning", Code: "response_unscannable"}
		}
		return http.StatusBadRequest, errorBody{Error: "the " + body.Kind + " body could not be parsed", Code: "malformed_body"}
	case errors.As(err, &divert):
		return http.StatusInternalServerError, errorBody{Error: "a sensitive value could not be stored safely", Code: "divert_failed"}
	case errors.As(err, &secure):
		return http.StatusServiceUnavailable, errorBody{Error: "the secure form could not be created", Code: "secure_command_failed"}
	case errors.As(err, &scan):
		if errors.Is(err, context.DeadlineExceeded) {
			return http.StatusServiceUnavailable, errorBody{Error: "the " + direction + " could not be scanned in time", Code: "scan_timeout"}
		}
		if errors.Is(err, context.Canceled) {
			return 0, errorBody{Code: "client_gone"}
		}
		return http.StatusServiceUnavailable, errorBody{Error: "the " + direction + " could not be scanned", Code: "scan_failed"}
	case errors.Is(err, errTooManyStreams):
		return http.StatusServiceUnavailable, errorBody{Error: "too many concurrent streams", Code: "too_many_streams"}
	case errors.Is(err, errShuttingDown):
		return http.StatusServiceUnavailable, errorBody{Error: "the proxy is shutting down", Code: "shutting_down"}
	case errors.Is(err, errUpgradeRefused):
		return http.StatusBadRequest, errorBody{Error: "protocol upgrade not allowed on this route", Code: "upgrade_refused"}
	case errors.As(err, new(upstreamTimeoutError)), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, errorBody{Error: "the upstream did not answer in time", Code: "upstream_timeout"}
	case errors.Is(err, context.Canceled):
		return 0, errorBody{Code: "client_gone"}
	case response != nil:
		return http.StatusBadGateway, errorBody{Error: "the upstream response could not be scanned", Code: "response_unscannable"}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return http.StatusGatewayTimeout, errorBody{Error: "the upstream did not answer in time", Code: "upstream_timeout"}
	}
	return http.StatusBadGateway, errorBody{Error: "the upstream is unavailable", Code: "upstream_unavailable"}
}

// writeError answers the client with the status and JSON body for err and
// returns the status and code written (status 0: client gone, nothing
// written).
func writeError(w http.ResponseWriter, err error, requestID string) (int, string) {
	status, body := classify(err)
	if status == 0 {
		return 0, body.Code
	}
	body.RequestID = requestID
	b, mErr := json.Marshal(body)
	if mErr != nil {
		b = []byte(`{"error":"internal error","code":"internal"}`)
	}
	h := w.Header()
	for k := range h {
		delete(h, k)
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", fmt.Sprint(len(b)+1))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if requestID != "" {
		h.Set("X-Request-Id", requestID)
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return status, body.Code
}
