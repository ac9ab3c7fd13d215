package standalone_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// Every event has an id (its sequence in the stream) and the stream opens with the id of
// where it stands; a client that reconnects with Last-Event-ID is first sent what it missed,
// in order and once, then the live events. One that missed what cannot be replayed is told
// to reset. A Last-Event-ID that is not an id is refused.
func TestEventStreamResumes(t *testing.T) {
	s := start(t, testConfig(t, t.TempDir()), nil)
	s.post(1)
	s.waitDone(1)

	first, stop := s.openEvents(t, "")
	var opened sseEvent
	select {
	case opened = <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not open with its position")
	}
	if opened.Event != "" || opened.ID == "" {
		t.Fatalf("the stream opened with %+v, want an id alone", opened)
	}
	s.post(2)
	requested := next(t, first, "requested", 2)
	if id, _ := strconv.ParseUint(requested.ID, 10, 64); id <= mustUint(t, opened.ID) {
		t.Errorf("requested 2 has id %q, want one after %s", requested.ID, opened.ID)
	}
	computed := next(t, first, "computed", 2)
	stop() // the connection drops; meanwhile 3 and 4 are asked and computed
	for _, n := range []int64{3, 4} {
		s.post(n)
		s.waitDone(n)
	}

	resumed := s.events(t, computed.ID)
	var ids []uint64
	seen := map[string]bool{}
	deadline := time.After(20 * time.Second)
	for !(seen["computed 4"] && seen["computed 5"]) {
		select {
		case ev := <-resumed:
			if ev.Event == "" {
				continue
			}
			id := mustUint(t, ev.ID)
			if len(ids) > 0 && id <= ids[len(ids)-1] || id <= mustUint(t, computed.ID) {
				t.Fatalf("event %+v after ids %v (resumed after %s): want each once, in order", ev, ids, computed.ID)
			}
			ids = append(ids, id)
			seen[ev.Event+" "+numberOf(t, ev)] = true
			if ev.Event == "computed" && numberOf(t, ev) == "4" {
				s.post(5) // live, after the replay
			}
		case <-deadline:
			t.Fatalf("resumed stream: saw %v", seen)
		}
	}
	for _, want := range []string{"requested 3", "computed 3", "requested 4"} {
		if !seen[want] {
			t.Errorf("the replay lacks %s (saw %v)", want, seen)
		}
	}
	if seen["requested 2"] || seen["computed 2"] {
		t.Error("the replay sent again what the client had seen")
	}

	// The reset carries the stream's position as its id, as a stream opened afresh does: a
	// browser that reconnects then resumes from there, not from the id that could not be had.
	reset := s.events(t, "999999")
	if ev := <-reset; ev.Event != "reset" || ev.ID == "" || mustUint(t, ev.ID) < ids[len(ids)-1] || ev.ID == "999999" {
		t.Errorf("resuming after an id the stream never reached opened with %+v, want reset with id %d or later", ev, ids[len(ids)-1])
	}
	if r := s.get("/api/v1/events", "Last-Event-ID", "x1"); r.status != http.StatusBadRequest {
		t.Errorf("Last-Event-ID x1: %d, want 400", r.status)
	}
}

func mustUint(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("id %q is not a number", s)
	}
	return n
}

func numberOf(t *testing.T, ev sseEvent) string {
	t.Helper()
	var p struct{ Number int64 }
	if err := json.Unmarshal([]byte(ev.Data), &p); err != nil {
		t.Fatalf("event data %q: %v", ev.Data, err)
	}
	return strconv.FormatInt(p.Number, 10)
}
