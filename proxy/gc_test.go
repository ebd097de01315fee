package proxy

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestContainerMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, content string
		want          int64
	}{
		{"capped", "536870912\n", 512 << 20},
		{"uncapped", "max\n", 0},
		{"garbage", "lots", 0},
		{"zero", "0", 0},
		{"negative", "-1", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := containerMemoryLimit(path); got != tt.want {
				t.Errorf("containerMemoryLimit(%q) = %d, want %d", tt.content, got, tt.want)
			}
		})
	}
	if got := containerMemoryLimit(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("missing file: got %d, want 0", got)
	}
}

func TestGCPercentFor(t *testing.T) {
	const floor = 64 << 20
	for _, tt := range []struct {
		live uint64
		want int
	}{
		{0, maxTunedGCPercent},
		{1 << 20, maxTunedGCPercent}, // the floor would be 6300%
		{8 << 20, 700},               // next collection at the floor
		{16 << 20, 300},
		{30 << 20, 113},
		{32 << 20, 100}, // twice the live heap reaches the floor: Go's default
		{1 << 30, 100},
	} {
		if got := gcPercentFor(tt.live, floor); got != tt.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", tt.live>>20, got, tt.want)
		}
	}
}

// gcPercent returns the current GOGC value without changing it: a
// set-and-restore would race with the tuner.
func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

func TestTuneGC(t *testing.T) {
	before := gcPercent()
	t.Run("default", func(t *testing.T) {
		t.Setenv("GOGC", "") // restored after the test
		os.Unsetenv("GOGC")
		tuned := make(chan bool, 64)
		stop, tuner := tuneGC(DefaultHeapFloor, func(on bool) { tuned <- on })
		if tuner == nil {
			t.Fatal("no tuner with GOGC unset")
		}
		// The test binary has little live heap: a tuning puts GOGC well
		// above the default.
		debug.SetGCPercent(100)
		tuner.tune()
		if got := gcPercent(); got <= 100 {
			t.Fatalf("GOGC after a tuning = %d, want it raised above 100", got)
		}
		// Collections start tunings. The cleanup that does it runs on a
		// goroutine of the runtime's, so a collection may come before the
		// next sentinel exists: collect until one is seen.
		seen := false
		for range 100 {
			runtime.GC()
			select {
			case on := <-tuned:
				if !on {
					t.Fatal("tuner stopped on its own")
				}
				seen = true
			case <-time.After(50 * time.Millisecond):
			}
			if seen {
				break
			}
		}
		if !seen {
			t.Fatal("no tuning after 100 collections")
		}
		stop()
		if got := gcPercent(); got != before {
			t.Errorf("GOGC after stop = %d, want %d", got, before)
		}
		if tuner.tune() {
			t.Error("tuner still on after stop")
		}
		if got := gcPercent(); got != before {
			t.Errorf("GOGC after stop and a tuning = %d, want %d", got, before)
		}
	})
	t.Run("environment wins", func(t *testing.T) {
		t.Setenv("GOGC", "150")
		debug.SetGCPercent(150) // as the runtime read it at startup
		defer debug.SetGCPercent(before)
		stop, tuner := tuneGC(DefaultHeapFloor, nil)
		defer stop()
		if tuner != nil {
			t.Error("a tuner was armed although GOGC is set")
		}
		if got := gcPercent(); got != 150 {
			t.Errorf("GOGC with GOGC=150 set = %d, want 150 kept", got)
		}
	})
}
