// Package proxy is Veil's reverse proxy: it routes requests to the chat
// backend and scans HTTP bodies, WebSocket messages and server-sent events in
// both directions, masking or diverting what the detectors find.
package proxy
