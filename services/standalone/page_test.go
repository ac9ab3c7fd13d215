package standalone_test

import (
	"context"
	"errors"
	"io"
	"math/big"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/factorial-service/factorial/platform/testenv"
	"github.com/factorial-service/factorial/services/calculator/factorial"
)

// browser starts a headless Chromium (Debian's chromium package, or $CHROMIUM) for one test,
// and fails the test at its end if the page threw an exception, logged an error or broke its
// Content-Security-Policy. Without Chromium the test is skipped, or fails when
// TEST_REQUIRE_SERVERS=1.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		if testenv.Required() {
			t.Fatalf("Chromium not found and %s=1: apt-get install chromium (or set CHROMIUM)", testenv.Require)
		}
		t.Skip("SKIP: Chromium not found (apt-get install chromium, or set CHROMIUM) for the page's browser test")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)

	// Console starts the browser and follows the page's console, exceptions and browser log.
	began := time.Now()
	messages := chromedp.Console(ctx)
	var mu sync.Mutex
	var problems []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				if ctx.Err() == nil {
					mu.Lock()
					problems = append(problems, "console: "+err.Error())
					mu.Unlock()
				}
				return
			}
			// An HTTP error answer is logged by the network source: the page expects some
			// (a 404 for a number never asked). Anything else at error level (an exception,
			// console.error, a blocked script, a policy violation) is a fault of the page.
			if (m.Type == chromedp.ConsoleError && m.Source != "network") || m.IsException() {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start Chromium %s: %v", path, err)
	}
	t.Logf("Chromium started in %v", time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("the page reported %s", p)
		}
	})
	return ctx
}

// page drives one browser tab against one service.
type page struct {
	t   *testing.T
	ctx context.Context
	s   *service
}

func (p *page) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v\npage now shows:\n%s", what, err, p.text())
	}
}

// until waits for a JavaScript expression to be true. A poll whose JavaScript context went
// away with its document (the page was still loading, or reloaded) is started again in the
// new one: on a loaded machine the first poll after a navigation can land in the old one.
func (p *page) until(what, expr string) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithDeadline(p.ctx, deadline)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(time.Until(deadline))))
		cancel()
		if err == nil {
			return
		}
		if strings.Contains(err.Error(), "Cannot find context with specified id") && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		p.t.Fatalf("waiting for %s: %v\npage now shows:\n%s", what, err, p.text())
	}
}

func (p *page) text() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	return s
}

func (p *page) value(expr string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		p.t.Fatalf("reading %s: %v", expr, err)
	}
	return s
}

// ask types n into the form and submits it.
func (p *page) ask(n string) {
	p.t.Helper()
	p.run("asking for "+n,
		chromedp.SetValue(chromedp.ID("n"), ""),
		chromedp.SendKeys(chromedp.ID("n"), n),
		chromedp.Click(chromedp.ID("compute")),
	)
}

// The operations page in a real browser: a number asked on the page ends with its right
// digits shown, a large result shows its ends and a download, the permalink survives a
// reload, a failure shows its reason and its retry works, a cancel shows as cancelled and
// stops the computation, a bad number shows the API's
// explanation, and the page breaks neither its Content-Security-Policy nor the console.
func TestOperationsPage(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.API.InlineResultMaxBytes = 1000 // 1000! (2,568 digits) is then a large result
	cfg.API.MaxNumber = 100000
	cfg.Calculator.MaxAttempts = 1
	var broken atomic.Bool
	broken.Store(true)
	stopped := make(chan error, 1)
	engine := newCountingEngine(func(ctx context.Context, n uint64, w io.Writer, progress func(float64)) (int64, error) {
		switch {
		case n == 13 && broken.Load():
			return 0, errors.New("disk on fire")
		case n == 99991: // runs until cancelled
			progress(0.1)
			<-ctx.Done()
			stopped <- context.Cause(ctx)
			return 0, ctx.Err()
		}
		return factorial.Write(ctx, n, w, progress)
	})
	s := start(t, cfg, engine)
	p := &page{t: t, ctx: browser(t), s: s}

	p.run("opening the page", chromedp.Navigate(s.base+"/"))
	p.until("the event stream", `document.getElementById('live').dataset.state === 'live'`)

	t.Run("a small number ends with its digits shown", func(t *testing.T) {
		p.t = t
		p.ask("20")
		p.until("20! done", `location.hash === '#/n/20' && document.getElementById('detail-status').textContent === 'done'`)
		p.until("the digits of 20!", `document.getElementById('detail-digits').textContent === '2432902008176640000'
			&& document.getElementById('detail-last').textContent === '2432902008176640000'.slice(0, -4)`)
		p.until("the row of 20! done", `document.querySelector('#row-20 .badge')?.textContent === 'done'
			&& document.querySelector('#row-20 td:nth-child(5)').textContent === '19'`)
	})

	t.Run("a large result shows its ends, digit count and a download", func(t *testing.T) {
		p.t = t
		p.ask("1000")
		p.until("the first digits of 1000!", `document.getElementById('detail-first').textContent.startsWith('402387260077093773543702433923003985719374864210')`)
		p.until("the row of 1000! done", `document.querySelector('#row-1000 .badge')?.textContent === 'done'`)
		text := new(big.Int).MulRange(1, 1000).String()
		beforeZeros := strings.TrimRight(text, "0")
		p.until("the last digits of 1000! before its zeros", `document.getElementById('detail-last').textContent === `+
			strconv.Quote("…"+beforeZeros[len(beforeZeros)-60:]))
		if got := p.value(`document.getElementById('detail-facts').innerText`); !strings.Contains(got, "2,568") {
			t.Errorf("facts of 1000! = %q, want the digit count 2,568", got)
		}
		if got := p.value(`document.getElementById('detail-zeros').textContent`); got != "then 249 zeros" {
			t.Errorf("zeros of 1000! = %q", got)
		}
		if got := p.value(`document.getElementById('detail-digits').hidden ? 'hidden' : 'shown'`); got != "hidden" {
			t.Errorf("the digits of a large result are %s inline, want hidden", got)
		}
		href := p.value(`document.getElementById('detail-download').href`)
		if !strings.HasSuffix(href, "/api/v1/factorial/1000?format=text&download=1") {
			t.Errorf("download link %q", href)
		}
		if r := s.get("/api/v1/factorial/1000?format=text"); !strings.HasPrefix(r.header.Get("Content-Disposition"), "inline") {
			t.Errorf("without download=1, Content-Disposition is %q, want inline", r.header.Get("Content-Disposition"))
		}
		r := s.get(strings.TrimPrefix(href, s.base))
		if r.status != 200 || len(r.body) != 2568 || !strings.HasPrefix(r.header.Get("Content-Disposition"), "attachment") {
			t.Errorf("download: %d, %d bytes, Content-Disposition %q; want 200, 2568 bytes, attachment",
				r.status, len(r.body), r.header.Get("Content-Disposition"))
		}
	})

	t.Run("the permalink survives a reload", func(t *testing.T) {
		p.t = t
		p.run("reloading", chromedp.Reload())
		p.until("1000! after the reload", `location.hash === '#/n/1000' && document.getElementById('detail-title').textContent === '1,000!'
			&& document.getElementById('detail-first').textContent.startsWith('4023872600770937')`)
		p.run("opening ?n=20", chromedp.Navigate(s.base+"/?n=20"))
		p.until("20! from ?n=20", `location.hash === '#/n/20' && document.getElementById('detail-digits').textContent === '2432902008176640000'`)
		p.run("opening a number never asked", chromedp.Navigate(s.base+"/#/n/77"))
		p.until("77! never requested", `document.getElementById('detail-error').textContent === '77! was never requested.'
			&& !document.getElementById('detail-retry').hidden`)
	})

	t.Run("a failure shows its reason, and retry computes it", func(t *testing.T) {
		p.t = t
		p.ask("13")
		p.until("13! failed", `document.getElementById('detail-status').textContent === 'failed'`)
		if got := p.value(`document.getElementById('detail-error').textContent`); !strings.Contains(got, "computing the digits failed") {
			t.Errorf("reason shown: %q, want the step that failed", got)
		}
		p.until("the row of 13! failed with its reason", `document.querySelector('#row-13 .reason')?.textContent.includes('computing the digits failed')`)
		broken.Store(false)
		p.run("retrying from the table", chromedp.Click(chromedp.CSS(`#row-13 button[data-action="retry"]`)))
		p.until("13! done after the retry", `document.getElementById('detail-digits').textContent === '6227020800'
			&& document.querySelector('#row-13 .badge')?.textContent === 'done'`)
	})

	t.Run("a cancel shows as cancelled", func(t *testing.T) {
		p.t = t
		p.ask("99991")
		p.until("99991! computing", `document.querySelector('#row-99991 .badge')?.textContent === 'computing'
			&& !document.getElementById('detail-cancel').hidden`)
		// A row is redrawn at every progress event; its button must stay the same element, or
		// a click pressed before a redraw and released after it is lost.
		p.value(`(window.cancelButton = document.querySelector('#row-99991 button[data-action="cancel"]'), window.shownTime = document.querySelector('#row-99991 td:nth-child(4)').textContent)`)
		p.until("the row redrawn by a progress event", `document.querySelector('#row-99991 td:nth-child(4)').textContent !== window.shownTime`)
		if kept := p.value(`String(window.cancelButton.isConnected)`); kept != "true" {
			t.Error("the Cancel button was replaced when its row was redrawn: a click across a redraw would be lost")
		}
		p.run("cancelling from the table", chromedp.Click(chromedp.CSS(`#row-99991 button[data-action="cancel"]`)))
		p.until("99991! cancelled", `document.querySelector('#row-99991 .badge')?.textContent === 'cancelled'
			&& document.getElementById('detail-status').textContent === 'cancelled'
			&& document.getElementById('detail-error').textContent.startsWith('Cancelled')
			&& document.querySelector('#row-99991 button[data-action="retry"]') !== null`)
		select {
		case err := <-stopped:
			t.Logf("the computation stopped: %v", err)
		case <-time.After(20 * time.Second):
			t.Error("the computation did not stop after the cancel")
		}
		if m := s.get("/api/v1/factorial/metadata/99991").json(t); m["status"] != "cancelled" {
			t.Errorf("metadata after the cancel: %v", m)
		}
	})

	t.Run("a number out of range shows what to send", func(t *testing.T) {
		p.t = t
		p.ask("100001")
		p.until("the API's explanation", `!document.getElementById('message').hidden
			&& document.getElementById('message').textContent.includes('from 0 to 100000')`)
	})
}
