package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/natsbus"
)

// startNATS starts the service's own embedded NATS server (platform/natsbus), which refuses
// anonymous clients and lets the user subscriber only read, with the FACTORIAL stream in
// place. It returns the URL outside clients use and a JetStream context of the service to
// publish events with.
func startNATS(t *testing.T) (string, jetstream.JetStream) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	ns, err := natsbus.StartEmbedded(t.TempDir(), "127.0.0.1:0", log, natsbus.WithSubscriberPassword("reader-secret"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := ns.Dialer(log)("test-publisher")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := natsbus.ProvisionStream(ctx, js); err != nil {
		t.Fatal(err)
	}
	return ns.ClientURL(), js
}

func publish(t *testing.T, js jetstream.JetStream, subject string, v any) {
	t.Helper()
	data, err := events.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, subject, data); err != nil {
		t.Fatal(err)
	}
}

func computed(n int64) events.Computed {
	return events.Computed{
		Number: n, Status: events.StatusDone, Key: "factorials/10.txt", Checksum: "b8c3cb5f0b8ba8d1c4b6a6d4d5c3e0d2a7f8e9c1b2a3d4e5f6a7b8c9d0e1f2a3",
		Size: 7, Digits: 7, ComputeMS: 3, ComputedAt: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
	}
}

// started runs the program with args and the environment env, and returns its output lines
// and its error once it ends.
func started(t *testing.T, ctx context.Context, args []string, env map[string]string) (<-chan string, <-chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	lines, errc := make(chan string, 100), make(chan error, 1)
	go func() {
		err := run(ctx, args, func(k string) string { return env[k] }, pw)
		_ = pw.Close()
		errc <- err
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return lines, errc
}

func next(t *testing.T, lines <-chan string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("the program ended before printing the expected line")
		}
		return l
	case <-time.After(15 * time.Second):
		t.Fatal("no line printed within 15s")
	}
	return ""
}

func TestPrintsEveryResultWithAll(t *testing.T) {
	url, js := startNATS(t)
	publish(t, js, events.SubjectComputed, computed(10))
	publish(t, js, events.RequestedSubject(11), events.Requested{Number: 11, RequestedAt: time.Now()})
	publish(t, js, events.SubjectFailed, events.Failed{Number: 12, Error: "boom", Attempts: 3, FailedAt: time.Now()})
	publish(t, js, events.SubjectComputed, computed(13))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lines, errc := started(t, ctx, []string{"-server", url, "-all", "-count", "2"},
		map[string]string{"EMBEDDED_NATS_SUBSCRIBER_PASSWORD": "reader-secret"})
	want := []string{
		"10! digits=7 size=7 sha256=b8c3cb5f0b8ba8d1c4b6a6d4d5c3e0d2a7f8e9c1b2a3d4e5f6a7b8c9d0e1f2a3 compute_ms=3 computed_at=2026-11-24T10:00:00Z",
		"13! digits=7 size=7 sha256=b8c3cb5f0b8ba8d1c4b6a6d4d5c3e0d2a7f8e9c1b2a3d4e5f6a7b8c9d0e1f2a3 compute_ms=3 computed_at=2026-11-24T10:00:00Z",
	}
	for _, w := range want {
		if got := next(t, lines); got != w {
			t.Errorf("printed\n  %s\nwant\n  %s", got, w)
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestPrintsOnlyNewResultsByDefault(t *testing.T) {
	url, js := startNATS(t)
	publish(t, js, events.SubjectComputed, computed(1))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lines, errc := started(t, ctx, []string{"-server", url, "-user", "subscriber", "-count", "1"},
		map[string]string{"NATS_PASSWORD": "reader-secret"})
	// The consumer starts at some point after run: publish new results until one is printed.
	stopPublishing := make(chan struct{})
	published := make(chan struct{})
	go func() {
		defer close(published)
		for n := int64(100); ; n++ {
			data, _ := events.Encode(computed(n))
			_, _ = js.Publish(ctx, events.SubjectComputed, data)
			select {
			case <-stopPublishing:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	got := next(t, lines)
	close(stopPublishing)
	<-published
	if !strings.HasPrefix(got, "10") || strings.HasPrefix(got, "1! ") {
		t.Fatalf("first line %q: want a result published after the start (n ≥ 100), not the old 1!", got)
	}
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestStopsWhenInterrupted(t *testing.T) {
	url, _ := startNATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	lines, errc := started(t, ctx, []string{"-server", url, "-password", "reader-secret"}, nil)
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("run after interrupt: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after the interrupt")
	}
	for l := range lines {
		t.Errorf("unexpected output %q", l)
	}
}

func TestRefusals(t *testing.T) {
	url, _ := startNATS(t)
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"wrong password":     {[]string{"-server", url, "-password", "nope"}, "Authorization Violation"},
		"no credentials":     {[]string{"-server", url}, "Authorization Violation"},
		"-all with -since":   {[]string{"-all", "-since", "1h"}, "exclude each other"},
		"negative -since":    {[]string{"-since", "-1h"}, "-since"},
		"stray argument":     {[]string{"factorial.computed"}, "unexpected argument"},
		"unknown flag":       {[]string{"-follow"}, "flag provided but not defined"},
		"negative -count":    {[]string{"-count", "-1"}, "-count"},
		"server not running": {[]string{"-server", "nats://127.0.0.1:1"}, "connect to nats://127.0.0.1:1"},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := run(ctx, tc.args, func(string) string { return "" }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
