package proxy

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
)

// DefaultHeapFloor is the heap size below which TuneGC lets garbage pile up
// rather than collect it.
const DefaultHeapFloor = 64 << 20

// maxTunedGCPercent bounds the GOGC value TuneGC sets, so that a process
// with almost nothing live still collects now and then.
const maxTunedGCPercent = 1000

// cgroupMemoryMax is where cgroup v2 publishes the container's memory cap.
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// TuneGC sets the Go garbage collector for a long-running proxy process and
// returns a function that stops the tuning and restores the previous
// settings. Call it once, at startup, from the program's main package: it
// changes process-wide state.
//
// A proxy keeps little memory alive (a few MiB beyond open streams) and
// makes kilobytes of short-lived garbage per request, so at Go's default
// (GOGC=100) it collects dozens of times a second, each time scanning the
// stacks of every connection's goroutines. After every collection TuneGC
// sets GOGC so that the next one starts when the heap reaches
// DefaultHeapFloor, or twice the live memory once that is larger (Go's
// default): a busy proxy with little live data collects a few times a
// second at most, and one holding many open streams uses no more memory
// than under the default. Under a cgroup v2 memory cap (a container) the Go
// memory limit becomes 80% of it, so that the collector works harder
// before the OOM killer acts. GOGC and GOMEMLIMIT in the environment, when
// set, win over both.
func TuneGC() (stop func()) {
	stop, _ = tuneGC(DefaultHeapFloor, nil)
	return stop
}

// tuneGC is TuneGC with its heap floor and a function called after every
// tuning a collection starts (with whether the tuning is still on), and
// returns the tuner, nil when GOGC is set.
func tuneGC(floor uint64, tuned func(on bool)) (stop func(), _ *gcTuner) {
	var restore []func()
	var t *gcTuner
	if _, ok := os.LookupEnv("GOGC"); !ok {
		t = &gcTuner{floor: floor, tuned: tuned, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
		prev := debug.SetGCPercent(maxTunedGCPercent)
		t.tune()
		t.arm()
		restore = append(restore, func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			t.stopped = true
			debug.SetGCPercent(prev)
		})
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok {
		if limit := containerMemoryLimit(cgroupMemoryMax); limit > 0 {
			prev := debug.SetMemoryLimit(limit / 10 * 8)
			restore = append(restore, func() { debug.SetMemoryLimit(prev) })
		}
	}
	return func() {
		for _, f := range restore {
			f()
		}
	}, t
}

// gcTuner sets GOGC after every collection; see TuneGC.
type gcTuner struct {
	floor uint64
	tuned func(on bool) // called after each tuning a collection started; for tests

	mu      sync.Mutex
	stopped bool
	sample  []metrics.Sample
}

// arm makes the next collection call tune: the cleanup of an object nothing
// refers to runs once the collector has found it unreachable.
func (t *gcTuner) arm() {
	runtime.AddCleanup(new(gcSentinel), func(t *gcTuner) {
		on := t.tune()
		if on {
			t.arm()
		}
		if t.tuned != nil {
			t.tuned(on)
		}
	}, t)
}

// gcSentinel is large enough and holds no pointers so that it is an
// allocation of its own, never batched with others by the tiny allocator.
type gcSentinel [32]byte

// tune sets GOGC from the live heap, unless the tuning has stopped; it
// reports whether it is still on.
func (t *gcTuner) tune() bool {
	t.mu.Lock()
	on := !t.stopped
	if on {
		metrics.Read(t.sample)
		if t.sample[0].Value.Kind() == metrics.KindUint64 {
			debug.SetGCPercent(gcPercentFor(t.sample[0].Value.Uint64(), t.floor))
		}
	}
	t.mu.Unlock()
	return on
}

// gcPercentFor returns the GOGC value that puts the next collection at
// floor bytes of heap, given live bytes after the last one; between 100
// (Go's default) and maxTunedGCPercent.
func gcPercentFor(live, floor uint64) int {
	if live == 0 {
		return maxTunedGCPercent
	}
	if live >= floor/2 {
		return 100
	}
	return int(min(max((floor-live)*100/live, 100), maxTunedGCPercent))
}

// containerMemoryLimit reads a cgroup v2 memory.max file: the cap in bytes,
// or 0 when there is none ("max") or it cannot be read.
func containerMemoryLimit(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}
