package natsbus

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// What readiness shows of a JetStream error names no file of the server's host: JetStream's
// own words are kept, a description carrying the server's error text is replaced by its code.
func TestDescribeShowsNoServerInternals(t *testing.T) {
	for _, c := range []struct {
		desc, want string
	}{
		{"consumer config replica count exceeds parent stream", "consumer config replica count exceeds parent stream"},
		{"error creating store for consumer: open /data/jetstream/$G/streams/FACTORIAL/obs/calculator-small: no space left on device", "JetStream error 10104"},
		{`stream store failed: open C:\nats\jetstream\FACTORIAL: access denied`, "JetStream error 10104"},
	} {
		err := fmt.Errorf("consumer calculator-small: %w", &jetstream.APIError{Code: 500, ErrorCode: 10104, Description: c.desc})
		got := describe(err)
		if got != c.want {
			t.Errorf("describe(%q) = %q, want %q", c.desc, got, c.want)
		}
		if strings.ContainsAny(got, `/\`) {
			t.Errorf("describe shows a path: %q", got)
		}
	}
}
