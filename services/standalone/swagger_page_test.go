package standalone_test

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// Swagger UI 5 runs in a real browser under its Content-Security-Policy: it loads
// /openapi.yaml and shows the operations, with no console error or policy violation.
func TestSwaggerUIInABrowser(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()), nil)
	p := &page{t: t, ctx: browser(t), s: s}
	p.run("opening Swagger UI", chromedp.Navigate(s.base+"/swagger/"))
	p.until("the document's title", `document.querySelector('.swagger-ui .info .title')?.textContent.includes('Factorial service')`)
	p.until("the operations", `document.querySelectorAll('.opblock').length >= 3`)
	if v := p.value(`document.querySelector('.swagger-ui .version-stamp')?.textContent ?? ''`); v == "" {
		t.Log("no version stamp shown")
	}
}
