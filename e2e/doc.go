// Package e2e holds rebound's end-to-end tests: they build the rebound
// binary from the module above and drive it as a user does, through its
// configuration file, its HTTP API and, in headless Chromium, its status
// page. It is a module of its own so that the browser driver (chromedp) is
// none of the library's requirements.
//
// Run them from this directory:
//
//	REBOUND_TEST_CHROMIUM=1 go test -race ./...
//
// Without Chromium on PATH the browser test is skipped, unless
// REBOUND_TEST_CHROMIUM=1 (as in CI), where it fails.
// REBOUND_TEST_BINARY names a rebound binary to test instead of building
// one; REBOUND_TEST_SCREENSHOT names a PNG file to write the page to.
package e2e
