// Command subscriber is an example of a program built on the factorial service's events: it
// watches factorial.computed on the service's NATS server and prints, for each result, the
// number, its digit count, its size and the SHA-256 checksum of its decimal text.
//
// It reads the JetStream stream FACTORIAL through an ordered consumer of its own (ephemeral,
// no acknowledgements, recreated by nats.go after a NATS restart), so it can start from new
// results only (the default), replay the last hours (-since 24h) or the whole stream (-all).
//
//	go run ./events/examples/subscriber                              # embedded NATS of make run
//	NATS_PASSWORD=… go run ./events/examples/subscriber -since 1h
//	go run ./events/examples/subscriber -server nats://nats:4222 -creds subscriber.creds -all
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/factorial-service/factorial/events"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "subscriber:", err)
		os.Exit(1)
	}
}

// options are the command line, with defaults from the environment.
type options struct {
	server, user, password, creds string
	since                         time.Duration
	all                           bool
	count                         int
}

func parse(args []string, getenv func(string) string) (options, error) {
	or := func(v, def string) string {
		if v != "" {
			return v
		}
		return def
	}
	var o options
	fs := flag.NewFlagSet("subscriber", flag.ContinueOnError)
	fs.StringVar(&o.server, "server", or(getenv("NATS_URL"), "nats://127.0.0.1:4222"), "NATS server URL(s), comma-separated (env NATS_URL)")
	fs.StringVar(&o.user, "user", or(getenv("NATS_USER"), "subscriber"), "user name, used with a password (env NATS_USER)")
	fs.StringVar(&o.password, "password", or(getenv("NATS_PASSWORD"), getenv("EMBEDDED_NATS_SUBSCRIBER_PASSWORD")),
		"password (env NATS_PASSWORD or EMBEDDED_NATS_SUBSCRIBER_PASSWORD; prefer the environment: arguments are visible to other users)")
	fs.StringVar(&o.creds, "creds", getenv("NATS_CREDS"), "credentials file, instead of user and password (env NATS_CREDS)")
	fs.DurationVar(&o.since, "since", 0, "also print the results of this long ago, e.g. 24h (default: new results only)")
	fs.BoolVar(&o.all, "all", false, "print every result the stream still holds, then the new ones")
	fs.IntVar(&o.count, "count", 0, "exit after this many results (default: run until interrupted)")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	switch {
	case fs.NArg() > 0:
		return options{}, fmt.Errorf("unexpected argument %q; see -help", fs.Arg(0))
	case o.since < 0:
		return options{}, errors.New("-since must be a positive duration like 24h")
	case o.all && o.since > 0:
		return options{}, errors.New("-all and -since exclude each other")
	case o.count < 0:
		return options{}, errors.New("-count must be 0 or more")
	}
	return o, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	o, err := parse(args, getenv)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(o.server, o.connectOptions()...)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", o.server, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	return watch(ctx, js, o, out)
}

func (o options) connectOptions() []nats.Option {
	opts := []nats.Option{
		nats.Name("factorial-example-subscriber"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
	}
	switch {
	case o.creds != "":
		opts = append(opts, nats.UserCredentials(o.creds))
	case o.password != "":
		opts = append(opts, nats.UserInfo(o.user, o.password))
	}
	return opts
}

// watch prints factorial.computed events until ctx ends or o.count results were printed.
func watch(ctx context.Context, js jetstream.JetStream, o options, out io.Writer) error {
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.SubjectComputed},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	}
	switch {
	case o.all:
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	case o.since > 0:
		start := time.Now().Add(-o.since)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	cons, err := js.OrderedConsumer(ctx, events.Stream, cfg)
	if err != nil {
		return fmt.Errorf("read stream %s: %w", events.Stream, err)
	}
	msgs, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("read stream %s: %w", events.Stream, err)
	}
	go func() {
		<-ctx.Done()
		msgs.Stop()
	}()
	for printed := 0; o.count == 0 || printed < o.count; {
		msg, err := msgs.Next()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read stream %s: %w", events.Stream, err)
		}
		var c events.Computed
		if err := events.Decode(msg.Data(), &c); err != nil {
			fmt.Fprintf(out, "skipping an unreadable event: %v\n", err)
			continue
		}
		fmt.Fprintln(out, format(c))
		printed++
	}
	return nil
}

// format is one line per result.
func format(c events.Computed) string {
	return fmt.Sprintf("%d! digits=%d size=%d sha256=%s compute_ms=%d computed_at=%s",
		c.Number, c.Digits, c.Size, c.Checksum, c.ComputeMS, c.ComputedAt.Format(time.RFC3339))
}
