package proxy

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestScanContext(t *testing.T) {
	type ctxKey struct{}
	tests := []struct {
		name     string
		timeout  time.Duration
		cancel   bool // cancel the parent
		stop     bool // call stop
		useDone  bool // ask for Done before checking
		wantErr  error
		wantDone bool
	}{
		{name: "running", timeout: time.Hour, wantErr: nil},
		{name: "running with Done", timeout: time.Hour, useDone: true, wantErr: nil},
		{name: "deadline passed", timeout: -time.Second, wantErr: context.DeadlineExceeded, wantDone: true},
		{name: "deadline passed with Done", timeout: -time.Second, useDone: true, wantErr: context.DeadlineExceeded, wantDone: true},
		{name: "parent cancelled", timeout: time.Hour, cancel: true, wantErr: context.Canceled, wantDone: true},
		{name: "parent cancelled with Done", timeout: time.Hour, cancel: true, useDone: true, wantErr: context.Canceled, wantDone: true},
		{name: "stopped", timeout: time.Hour, stop: true, wantErr: context.Canceled, wantDone: true},
		{name: "stopped with Done", timeout: time.Hour, stop: true, useDone: true, wantErr: context.Canceled, wantDone: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
			defer cancel()
			ctx := newScanContext(parent, tt.timeout)
			stop := ctx.stop
			defer stop()
			var done <-chan struct{}
			if tt.useDone {
				done = ctx.Done()
			}
			if tt.cancel {
				cancel()
			}
			if tt.stop {
				stop()
			}
			if done != nil && tt.wantDone {
				<-done // closed now, or when the timer context sees the cancel
			}
			if err := ctx.Err(); !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Err() = %v, want %v", err, tt.wantErr)
			}
			if tt.wantDone {
				<-ctx.Done()
			} else {
				select {
				case <-ctx.Done():
					t.Fatal("Done closed early")
				default:
				}
			}
			if got := ctx.Value(ctxKey{}); got != "v" {
				t.Fatalf("Value = %v, want the parent's", got)
			}
			dl, ok := ctx.Deadline()
			if want := time.Now().Add(tt.timeout); !ok || dl.After(want) {
				t.Fatalf("Deadline() = %v, %v, want about %v", dl, ok, want)
			}
		})
	}
}

func TestScanContextParentDeadline(t *testing.T) {
	parent, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx := newScanContext(parent, time.Hour)
	defer ctx.stop()
	pd, _ := parent.Deadline()
	if dl, _ := ctx.Deadline(); !dl.Equal(pd) {
		t.Fatalf("Deadline() = %v, want the parent's earlier %v", dl, pd)
	}
}
