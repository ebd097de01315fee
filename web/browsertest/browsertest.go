// Package browsertest starts headless Chromium for the page tests of
// Veil's packages. Only tests import it.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds a Chromium or Chrome binary.
func chromiumPath() string {
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Start starts headless Chromium for t with a window of width×height and
// returns a context for its first tab, or skips t when there is no
// Chromium (fails instead when VEIL_REQUIRE_BROWSER=1, as in CI). The
// browser ends with t.
func Start(t testing.TB, width, height int) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("VEIL_REQUIRE_BROWSER") == "1" {
			t.Fatal("VEIL_REQUIRE_BROWSER=1 but no Chromium found (looked for /usr/bin/chromium, chromium, chromium-browser, google-chrome)")
		}
		t.Skip("browser test skipped: no Chromium found; install Debian's chromium package (or set VEIL_REQUIRE_BROWSER=1 to make this a failure)")
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium %s: %v", path, err)
	}
	return ctx
}

// ScreenshotDir returns the folder for this run's screenshots:
// VEIL_SCREENSHOT_DIR when set, a new temporary folder named after what
// otherwise (kept after the test so the pictures can be looked at).
func ScreenshotDir(t testing.TB, what string) string {
	t.Helper()
	dir := os.Getenv("VEIL_SCREENSHOT_DIR")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "veil-"+what+"-screenshots-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}
