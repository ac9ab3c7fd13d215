package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/factorial-service/factorial/events"
)

const testSubscriberPassword = "watch-me"

// provisioned starts an embedded server listening on a free port, with the stream and the
// service's consumers provisioned, and returns it with a JetStream handle of the service.
func provisioned(t *testing.T) (*Embedded, jetstream.JetStream) {
	t.Helper()
	e := startEmbedded(t, t.TempDir(), "127.0.0.1:0", WithSubscriberPassword(testSubscriberPassword))
	nc, err := e.Dialer(testLogger(t))("service")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js := newJS(t, nc)
	if err := Provision(t.Context(), js, lanes(time.Minute, 8)); err != nil {
		t.Fatal(err)
	}
	return e, js
}

// outsider is a client of the embedded server's listener that records the errors the
// server sends it asynchronously (permission violations).
type outsider struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	mu   sync.Mutex
	errs []string
}

func connectSubscriber(t *testing.T, e *Embedded) *outsider {
	t.Helper()
	o := &outsider{}
	nc, err := nats.Connect(e.ClientURL(), nats.UserInfo(SubscriberUser, testSubscriberPassword),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.errs = append(o.errs, err.Error())
		}))
	if err != nil {
		t.Fatalf("subscriber: %v", err)
	}
	t.Cleanup(nc.Close)
	o.nc, o.js = nc, newJS(t, nc)
	return o
}

// violated reports whether the server refused something on subject.
func (o *outsider) violated(subject string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, e := range o.errs {
		if strings.Contains(e, "Permissions Violation") && strings.Contains(e, `"`+subject+`"`) {
			return true
		}
	}
	return false
}

func TestEmbeddedRefusesAnonymousAndWrongPasswords(t *testing.T) {
	t.Parallel()
	e := startEmbedded(t, t.TempDir(), "127.0.0.1:0", WithSubscriberPassword(testSubscriberPassword))
	for name, opts := range map[string][]nats.Option{
		"anonymous":                              nil,
		"subscriber with a wrong password":       {nats.UserInfo(SubscriberUser, "guess")},
		"the internal user without its password": {nats.UserInfo(serviceUser, "")},
	} {
		nc, err := nats.Connect(e.ClientURL(), append(opts, nats.Timeout(5*time.Second))...)
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected", name)
			continue
		}
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("%s: %v, want an authorization violation", name, err)
		}
	}
}

func TestSubscriberWatchesTheEvents(t *testing.T) {
	t.Parallel()
	e, js := provisioned(t)
	ctx := t.Context()
	publish := func(subject, data string) {
		t.Helper()
		if _, err := js.Publish(ctx, subject, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	publish(events.SubjectComputed, `{"number":1}`)
	publish(events.RequestedSubject(2), `{"number":2}`)

	o := connectSubscriber(t, e)
	core, err := o.nc.SubscribeSync("factorial.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := o.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// The stream from its start, through an ordered consumer (ephemeral, pull).
	oc, err := o.js.OrderedConsumer(ctx, events.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.SubjectComputed},
	})
	if err != nil {
		t.Fatalf("ordered consumer: %v", err)
	}
	it, err := oc.Messages()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Stop()
	publish(events.RequestedSubject(3), `{"number":3}`)
	publish(events.SubjectComputed, `{"number":3}`)
	publish(events.SubjectProgress, `{"number":4}`)

	for _, want := range []string{`{"number":1}`, `{"number":3}`} {
		m, err := nextWithin(it, 10*time.Second)
		if err != nil {
			t.Fatalf("ordered consumer, waiting for %s: %v", want, err)
		}
		if string(m.Data()) != want || m.Subject() != events.SubjectComputed {
			t.Fatalf("ordered consumer got %s %s, want %s", m.Subject(), m.Data(), want)
		}
	}
	// Core: the computed and progress events, never a request.
	for _, want := range []string{events.SubjectComputed, events.SubjectProgress} {
		m, err := core.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("core subscription, waiting for %s: %v", want, err)
		}
		if m.Subject != want {
			t.Fatalf("core subscription got %s %s, want %s", m.Subject, m.Data, want)
		}
	}
}

// nextWithin is it.Next with a deadline.
func nextWithin(it jetstream.MessagesContext, d time.Duration) (jetstream.Msg, error) {
	type result struct {
		m   jetstream.Msg
		err error
	}
	c := make(chan result, 1)
	go func() {
		m, err := it.Next()
		c <- result{m, err}
	}()
	select {
	case r := <-c:
		return r.m, r.err
	case <-time.After(d):
		it.Stop()
		return nil, errors.New("timed out")
	}
}

// Everything the issue lists, and the two ways a consumer could be made to publish into the
// JetStream API with the server's rights: each must fail, and the stream, its messages and
// the service's consumer must be as they were.
func TestSubscriberCannotChangeAnything(t *testing.T) {
	t.Parallel()
	e, js := provisioned(t)
	ctx := t.Context()
	if _, err := js.Publish(ctx, events.RequestedSubject(5), []byte(`{"number":5}`)); err != nil {
		t.Fatal(err)
	}
	before := streamState(t, js)
	o := connectSubscriber(t, e)
	// Its own consumer, to abuse the reply subject of a pull request: with nothing new to
	// deliver, the answer to a no_wait pull is an empty status message.
	own, err := o.js.CreateConsumer(ctx, events.Stream, jetstream.ConsumerConfig{
		Name: "own", AckPolicy: jetstream.AckNonePolicy, DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		t.Fatalf("create its own consumer: %v", err)
	}

	// Each attempt gets a short deadline: a request refused by permissions gets no answer.
	attempt := func(f func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return f(ctx)
	}
	refused := []struct {
		name string
		err  func(ctx context.Context) error
		// deniedOn, when set, is the subject the server must report a violation for.
		deniedOn string
		// says, when set, is a part of the error message.
		says string
	}{
		{name: "publish factorial.requested", deniedOn: events.RequestedSubject(6), err: func(context.Context) error {
			return o.nc.Publish(events.RequestedSubject(6), []byte(`{"number":6}`))
		}},
		{name: "publish factorial.computed", deniedOn: events.SubjectComputed, err: func(context.Context) error {
			return o.nc.Publish(events.SubjectComputed, []byte(`{"number":6,"status":"done"}`))
		}},
		{name: "JetStream publish of factorial.requested", err: func(ctx context.Context) error {
			_, err := o.js.Publish(ctx, events.RequestedSubject(7), []byte(`{"number":7}`))
			return err
		}},
		{name: "delete the stream", deniedOn: "$JS.API.STREAM.DELETE.FACTORIAL", err: func(ctx context.Context) error {
			return o.js.DeleteStream(ctx, events.Stream)
		}},
		{name: "purge the stream", deniedOn: "$JS.API.STREAM.PURGE.FACTORIAL", err: func(ctx context.Context) error {
			s, err := o.js.Stream(ctx, events.Stream)
			if err != nil {
				return err
			}
			return s.Purge(ctx)
		}},
		{name: "update the stream", deniedOn: "$JS.API.STREAM.UPDATE.FACTORIAL", err: func(ctx context.Context) error {
			_, err := o.js.UpdateStream(ctx, jetstream.StreamConfig{Name: events.Stream, Subjects: []string{"elsewhere.>"}})
			return err
		}},
		{name: "delete the calculator consumer", deniedOn: apiConsumerDelete + events.LaneSmall.Durable(), err: func(ctx context.Context) error {
			return o.js.DeleteConsumer(ctx, events.Stream, events.LaneSmall.Durable())
		}},
		{name: "create the durable calculator", deniedOn: apiConsumerCreate + events.LaneSmall.Durable(), err: func(ctx context.Context) error {
			_, err := o.js.CreateOrUpdateConsumer(ctx, events.Stream, jetstream.ConsumerConfig{Durable: events.LaneSmall.Durable(), AckPolicy: jetstream.AckNonePolicy})
			return err
		}},
		{name: "create a durable of its own", says: "ephemeral consumers only", err: func(ctx context.Context) error {
			_, err := o.js.CreateOrUpdateConsumer(ctx, events.Stream, jetstream.ConsumerConfig{Durable: "mine"})
			return err
		}},
		{name: "pull from the calculator consumer", deniedOn: apiConsumerNext + events.LaneSmall.Durable(), err: func(context.Context) error {
			return o.nc.PublishRequest(apiConsumerNext+events.LaneSmall.Durable(), o.nc.NewRespInbox(), []byte(`{"batch":1}`))
		}},
		{name: "ack a delivery of the calculator consumer", deniedOn: apiConsumerAck + events.LaneLarge.Durable() + ".1.1.1.0.0", err: func(context.Context) error {
			return o.nc.Publish(apiConsumerAck+events.LaneLarge.Durable()+".1.1.1.0.0", []byte("+ACK"))
		}},
		{name: "push consumer delivering into the JetStream API", says: "pull consumers only", err: func(ctx context.Context) error {
			// Raw, as jetstream.ConsumerConfig has no push settings; its idle heartbeats are
			// empty messages, which is what STREAM.DELETE takes.
			req := fmt.Sprintf(`{"stream_name":%q,"config":{"name":"push","deliver_subject":"$JS.API.STREAM.DELETE.FACTORIAL","deliver_policy":"new","ack_policy":"none","idle_heartbeat":%d}}`,
				events.Stream, 200*time.Millisecond)
			m, err := o.nc.RequestWithContext(ctx, apiConsumerCreate+"push", []byte(req))
			if err != nil {
				return err
			}
			var resp struct {
				Error *struct{ Description string } `json:"error"`
			}
			if err := json.Unmarshal(m.Data, &resp); err != nil {
				return err
			}
			if resp.Error != nil {
				return errors.New(resp.Error.Description)
			}
			<-ctx.Done() // give the heartbeats their chance
			return nil
		}},
		{name: "pull request answered into the JetStream API", err: func(ctx context.Context) error {
			// Succeeds as a publish; what matters is that the stream survives it (checked below).
			if err := o.nc.PublishRequest(apiConsumerNext+own.CachedInfo().Name, "$JS.API.STREAM.DELETE.FACTORIAL", []byte(`{"batch":1,"no_wait":true}`)); err != nil {
				return err
			}
			if err := o.nc.FlushWithContext(ctx); err != nil {
				return err
			}
			<-ctx.Done()
			return ctx.Err()
		}},
	}
	var wg sync.WaitGroup
	for _, tt := range refused {
		wg.Go(func() {
			err := attempt(tt.err)
			if tt.deniedOn == "" && err == nil {
				t.Errorf("%s: no error", tt.name)
			}
			if tt.says != "" && (err == nil || !strings.Contains(err.Error(), tt.says)) {
				t.Errorf("%s: error %v, want it to say %q", tt.name, err, tt.says)
			}
		})
	}
	wg.Wait()
	if err := o.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range refused {
		if tt.deniedOn != "" && !o.violated(tt.deniedOn) {
			t.Errorf("%s: no permissions violation reported for %s", tt.name, tt.deniedOn)
		}
	}

	if after := streamState(t, js); after != before {
		t.Errorf("the stream changed from %+v to %+v", before, after)
	}
	c, err := js.Consumer(ctx, events.Stream, events.LaneSmall.Durable())
	if err != nil {
		t.Fatalf("the calculator consumer: %v", err)
	}
	if cfg := c.CachedInfo().Config; cfg.FilterSubject != events.LaneSmall.Filter() || cfg.DeliverSubject != "" || cfg.AckPolicy != jetstream.AckExplicitPolicy {
		t.Errorf("the calculator consumer changed: %+v", cfg)
	}
	if _, err := js.Consumer(ctx, events.Stream, "mine"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Errorf("durable mine: %v, want not found", err)
	}
}

type state struct {
	msgs, first, last uint64
}

func streamState(t *testing.T, js jetstream.JetStream) state {
	t.Helper()
	s, err := js.Stream(t.Context(), events.Stream)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	st := s.CachedInfo().State
	return state{st.Msgs, st.FirstSeq, st.LastSeq}
}

// The subscriber tidies up after itself (ordered consumers delete the consumer they leave),
// but only its own consumers.
func TestSubscriberDeletesOnlyItsOwnConsumers(t *testing.T) {
	t.Parallel()
	e, js := provisioned(t)
	ctx := t.Context()
	// An ephemeral consumer of the service (like the API's event follower).
	if _, err := js.CreateConsumer(ctx, events.Stream, jetstream.ConsumerConfig{Name: "service-follower", AckPolicy: jetstream.AckNonePolicy}); err != nil {
		t.Fatal(err)
	}
	o := connectSubscriber(t, e)
	c, err := o.js.CreateConsumer(ctx, events.Stream, jetstream.ConsumerConfig{
		Name: "mine", AckPolicy: jetstream.AckNonePolicy, InactiveThreshold: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CachedInfo().Config.InactiveThreshold; got != maxInactiveTime {
		t.Errorf("inactive threshold %s, want it capped at %s", got, maxInactiveTime)
	}
	if err := o.js.DeleteConsumer(ctx, events.Stream, "mine"); err != nil {
		t.Errorf("delete its own consumer: %v", err)
	}
	err = o.js.DeleteConsumer(ctx, events.Stream, "service-follower")
	if err == nil || !strings.Contains(err.Error(), "belongs to the service") {
		t.Errorf("delete the service's ephemeral consumer: %v, want refused", err)
	}
	_, err = o.js.CreateOrUpdateConsumer(ctx, events.Stream, jetstream.ConsumerConfig{Name: "service-follower", AckPolicy: jetstream.AckNonePolicy, FilterSubject: events.SubjectFailed})
	if err == nil || !strings.Contains(err.Error(), "belongs to the service") {
		t.Errorf("update the service's ephemeral consumer: %v, want refused", err)
	}
}

// The subscriber's consumers cannot crowd the stream: the gate creates none once it holds
// maxConsumers, the service's own included, and creates again once one is gone.
func TestSubscriberConsumersAreBounded(t *testing.T) {
	t.Parallel()
	e, js := provisioned(t)
	ctx := t.Context()
	o := connectSubscriber(t, e)
	create := func(i int) error {
		_, err := o.js.CreateConsumer(ctx, events.Stream, jetstream.ConsumerConfig{
			Name: fmt.Sprint("watcher-", i), AckPolicy: jetstream.AckNonePolicy, InactiveThreshold: time.Minute,
		})
		return err
	}
	created := 0
	for ; created <= maxConsumers; created++ {
		if err := create(created); err != nil {
			if !strings.Contains(err.Error(), "consumers already") {
				t.Fatalf("consumer %d refused with %v, want the bound named", created, err)
			}
			break
		}
	}
	st, err := js.Stream(ctx, events.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Consumers; n != maxConsumers || created == 0 {
		t.Fatalf("%d consumers on the stream after the subscriber created %d, want %d", n, created, maxConsumers)
	}
	if err := o.js.DeleteConsumer(ctx, events.Stream, "watcher-0"); err != nil {
		t.Fatal(err)
	}
	if err := create(maxConsumers + 1); err != nil {
		t.Errorf("once one is gone: %v, want created", err)
	}
}

// Every durable consumer the service provisions must be in serviceConsumers, which the
// subscriber's permissions keep it off (pull requests and acks do not go through the gate).
func TestServiceConsumersCoverWhatProvisionCreates(t *testing.T) {
	t.Parallel()
	_, js := provisioned(t)
	s, err := js.Stream(t.Context(), events.Stream)
	if err != nil {
		t.Fatal(err)
	}
	names := s.ConsumerNames(t.Context())
	for name := range names.Name() {
		if !slices.Contains(serviceConsumers, name) {
			t.Errorf("Provision creates consumer %q, which serviceConsumers (subscriber.go) does not protect", name)
		}
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestWatchCommandShowsOnlyAGeneratedPassword(t *testing.T) {
	t.Parallel()
	given := startEmbedded(t, t.TempDir(), "127.0.0.1:0", WithSubscriberPassword("chosen-secret"))
	if cmd := given.WatchCommand(); strings.Contains(cmd, "chosen-secret") || !strings.Contains(cmd, "$EMBEDDED_NATS_SUBSCRIBER_PASSWORD") {
		t.Errorf("with a password given: %q", cmd)
	}
	generated := startEmbedded(t, t.TempDir(), "127.0.0.1:0")
	pw := generated.SubscriberPassword()
	if len(pw) < 20 || !strings.Contains(generated.WatchCommand(), "--user subscriber --password "+pw) {
		t.Errorf("generated password %q, command %q", pw, generated.WatchCommand())
	}
	if pw == servicePassword() {
		t.Error("the subscriber's password is the internal user's")
	}
	nc, err := nats.Connect(generated.ClientURL(), nats.UserInfo(SubscriberUser, pw))
	if err != nil {
		t.Fatalf("the printed password does not work: %v", err)
	}
	nc.Close()
	if off := startEmbedded(t, t.TempDir(), "off"); off.WatchCommand() != "" {
		t.Errorf("listening off: %q", off.WatchCommand())
	}
}

// The gate's answers are the JetStream API's own error shape.
func TestGateRefusalsAreJetStreamErrors(t *testing.T) {
	t.Parallel()
	e, _ := provisioned(t)
	o := connectSubscriber(t, e)
	m, err := o.nc.Request(apiConsumerCreate+"x", []byte("not json"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		Type  string `json:"type"`
		Error struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil || resp.Error.Code != 400 || !strings.Contains(resp.Type, "consumer_create_response") {
		t.Errorf("answer %s (%v)", m.Data, err)
	}
}
