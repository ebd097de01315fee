package proxy

import (
	"context"
	"sync"
	"time"
)

// scanContext is context.WithTimeout for one scan, without the timer in
// the common case: the detectors engine only polls Err, so the deadline is
// checked against the clock there, and a real timer context is made only
// when something (a Diverter's database call, say) waits on Done. Every
// message is scanned under a deadline; most scans take microseconds, and a
// timer and a cancel context per message were a measurable share of the
// proxy's per-request work.
type scanContext struct {
	context.Context           // the parent
	deadline        time.Time // min(parent's deadline, start + timeout)

	mu      sync.Mutex
	timed   context.Context // made by the first Done; nil until then
	cancel  context.CancelFunc
	stopErr error // set by stop: Canceled, or DeadlineExceeded when it came first
}

// newScanContext returns a context that is done after d, or when parent
// is; the caller must call its stop method when the scan ends.
func newScanContext(parent context.Context, d time.Duration) *scanContext {
	dl := time.Now().Add(d)
	if pd, ok := parent.Deadline(); ok && pd.Before(dl) {
		dl = pd
	}
	return &scanContext{Context: parent, deadline: dl}
}

// Deadline returns the scan's deadline.
func (c *scanContext) Deadline() (time.Time, bool) { return c.deadline, true }

// Done returns a channel closed at the deadline or when the parent is done.
func (c *scanContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timed == nil {
		c.timed, c.cancel = context.WithDeadline(c.Context, c.deadline)
		if c.stopErr != nil {
			c.cancel()
		}
	}
	return c.timed.Done()
}

// Err returns the parent's error, context.DeadlineExceeded once the
// deadline has passed, or nil.
func (c *scanContext) Err() error {
	c.mu.Lock()
	timed, stopErr := c.timed, c.stopErr
	c.mu.Unlock()
	if timed != nil {
		// Done has been handed out: Err must agree with it.
		return timed.Err()
	}
	if err := c.Context.Err(); err != nil {
		return err
	}
	if stopErr != nil {
		return stopErr
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// stop cancels the context, like the CancelFunc of context.WithTimeout,
// and releases the timer if Done made one.
func (c *scanContext) stop() {
	c.mu.Lock()
	if c.stopErr == nil {
		c.stopErr = context.Canceled
		if !time.Now().Before(c.deadline) {
			c.stopErr = context.DeadlineExceeded
		}
	}
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Value returns the parent's values.
func (c *scanContext) Value(key any) any { return c.Context.Value(key) }
