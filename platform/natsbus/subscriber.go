package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/factorial-service/factorial/events"
)

// Who may use the embedded server, and for what.
//
// The service connects as serviceUser, with every right, in the server's global account,
// which owns the FACTORIAL stream. Outside clients connect as SubscriberUser, which lives in
// an account of its own (watchAccount) that sees only what the global account exports to it:
//
//   - the events factorial.computed, factorial.failed, factorial.progress and
//     factorial.cancelled (core subscriptions; `nats sub 'factorial.>'` receives these four
//     and nothing else);
//   - reading the stream through consumers: account and stream info, consumer info, pull
//     requests (MSG.NEXT) and acks, and the creation and deletion of consumers, which go
//     through the consumer gate below.
//
// Why an account of its own, and a gate: a JetStream consumer publishes to subjects its
// client chooses (the reply subject of a pull request, the deliver subject of a push
// consumer) with the server's own rights, inside the account that owns the stream. A
// subscriber in that account could send a pull request whose reply subject is
// $JS.API.STREAM.DELETE.FACTORIAL, and the consumer's empty "no messages" answer would
// delete the stream: checked against nats-server v2.15.2 (TestSubscriberCannotChangeAnything),
// and no user permission can prevent it, as reply subjects are not subject to them. Across
// an account boundary the server rewrites every reply subject to a private one (_R_…), so
// pull requests from the subscriber's account are harmless. A push consumer's deliver
// subject is in the request body, where no permission reaches, so consumer creation goes
// through the gate, which refuses push consumers, durables, and the service's consumers.
const (
	// SubscriberUser is the read-only user for outside subscribers of the embedded server.
	SubscriberUser = "subscriber"
	serviceUser    = "service"
	watchAccount   = "SUBSCRIBERS"

	gatePrefix      = "$FACTORIAL.GATE."
	gateCreate      = gatePrefix + "CREATE."
	gateDelete      = gatePrefix + "DELETE."
	createdByKey    = "created_by" // consumer metadata the gate sets on what it creates
	createdByValue  = SubscriberUser
	maxConsumers    = 256             // consumers on the stream, beyond which the gate creates none
	maxInactiveTime = 5 * time.Minute // longest inactive threshold of a subscriber's consumer
)

// serviceConsumers are the durable consumers of the service: a subscriber may not pull from
// them, ack their messages, create, update or delete them. The gate also refuses to touch
// any consumer it did not create; the permissions below name these explicitly because pull
// requests and acks do not go through the gate.
var serviceConsumers = []string{events.LaneSmall.Durable(), events.LaneLarge.Durable(), defaultTopology.legacy}

// The JetStream API subjects of the FACTORIAL stream's consumers.
var (
	apiConsumerCreate = "$JS.API.CONSUMER.CREATE." + events.Stream + "."
	apiConsumerDelete = "$JS.API.CONSUMER.DELETE." + events.Stream + "."
	apiConsumerNext   = "$JS.API.CONSUMER.MSG.NEXT." + events.Stream + "."
	apiConsumerInfo   = "$JS.API.CONSUMER.INFO." + events.Stream + "."
	apiConsumerAck    = "$JS.ACK." + events.Stream + "."
)

// subscriberServices are the requests the subscriber's account may make of the global
// account: subject there (in the subscriber's account) → subject here, and whether a request
// gets a stream of responses.
var subscriberServices = []struct {
	from, to string
	streamed bool
}{
	{from: "$JS.API.INFO"},
	{from: "$JS.API.STREAM.INFO." + events.Stream},
	{from: apiConsumerInfo + "*"},
	{from: apiConsumerNext + "*", streamed: true},
	{from: apiConsumerAck + ">"},
	{from: apiConsumerCreate + ">", to: gateCreate + ">"},
	{from: apiConsumerDelete + "*", to: gateDelete + "*"},
}

var subscriberEvents = []string{events.SubjectComputed, events.SubjectFailed, events.SubjectProgress, events.SubjectCancelled}

// configureUsers adds the two users (and the subscriber's account) to opts, and returns that
// account; the server then has no anonymous access.
func configureUsers(opts *server.Options, subscriberPassword string) *server.Account {
	watch := server.NewAccount(watchAccount)
	opts.Accounts = []*server.Account{watch}
	opts.Users = []*server.User{
		{Username: serviceUser, Password: servicePassword()},
		{Username: SubscriberUser, Password: subscriberPassword, Account: watch, Permissions: subscriberPermissions()},
	}
	return watch
}

// subscriberPermissions repeat the account's boundary as user permissions, so that a
// refused request fails at once with "Permissions Violation" instead of a timeout, and keep
// the subscriber off the service's own consumers.
func subscriberPermissions() *server.Permissions {
	var allow []string
	for _, s := range subscriberServices {
		allow = append(allow, s.from)
	}
	var deny []string
	for _, name := range serviceConsumers {
		deny = append(deny,
			apiConsumerNext+name, apiConsumerAck+name+".>",
			apiConsumerCreate+name, apiConsumerCreate+name+".>", apiConsumerDelete+name)
	}
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: allow, Deny: deny},
		// The account receives only the exported events, so factorial.> is safe and lets
		// `nats sub 'factorial.>'` work; replies come to inboxes.
		Subscribe: &server.SubjectPermission{Allow: []string{"factorial.>", "_INBOX.>"}},
	}
}

// exportToSubscribers wires the subscriber's account to the global account: the events as
// streams, the JetStream requests as services (the consumer creations and deletions to the
// gate).
func exportToSubscribers(srv *server.Server, opt *server.Account) error {
	watch, err := srv.LookupAccount(opt.Name)
	if err != nil {
		return fmt.Errorf("subscriber account: %w", err)
	}
	global := srv.GlobalAccount()
	only := []*server.Account{watch}
	for _, subject := range subscriberEvents {
		if err := global.AddStreamExport(subject, only); err != nil {
			return fmt.Errorf("export %s: %w", subject, err)
		}
		if err := watch.AddStreamImport(global, subject, ""); err != nil {
			return fmt.Errorf("import %s: %w", subject, err)
		}
	}
	for _, s := range subscriberServices {
		to, rt := s.to, server.Singleton
		if to == "" {
			to = s.from
		}
		if s.streamed {
			rt = server.Streamed
		}
		if err := global.AddServiceExportWithResponse(to, rt, only); err != nil {
			return fmt.Errorf("export %s: %w", to, err)
		}
		if err := watch.AddServiceImport(global, s.from, to); err != nil {
			return fmt.Errorf("import %s: %w", s.from, err)
		}
	}
	return nil
}

// consumerGate creates and deletes consumers of FACTORIAL for subscribers, after checking
// what the permissions cannot see: that a new consumer is an ephemeral pull consumer, and
// that the consumer touched is one a subscriber created.
type consumerGate struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger
}

// startConsumerGate subscribes to the gate's subjects on a connection of its own, which the
// caller closes to stop it.
func startConsumerGate(dial Dialer, log *slog.Logger) (*nats.Conn, error) {
	nc, err := dial("consumer-gate")
	if err != nil {
		return nil, fmt.Errorf("consumer gate: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("consumer gate: %w", err)
	}
	g := &consumerGate{nc: nc, js: js, log: log.With("component", "consumer-gate")}
	for subject, handle := range map[string]nats.MsgHandler{gateCreate + ">": g.create, gateDelete + "*": g.delete} {
		sub, err := nc.Subscribe(subject, handle)
		if err == nil {
			// Requests are handled one at a time; a flood beyond this is dropped, and its
			// senders time out.
			err = sub.SetPendingLimits(256, 1<<20)
		}
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("consumer gate: subscribe %s: %w", subject, err)
		}
	}
	if err := nc.Flush(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("consumer gate: %w", err)
	}
	return nc, nil
}

func (g *consumerGate) create(m *nats.Msg) {
	rest := strings.TrimPrefix(m.Subject, gateCreate) // <name>[.<filter>]
	name, _, _ := strings.Cut(rest, ".")
	var req server.CreateConsumerRequest
	if err := json.Unmarshal(m.Data, &req); err != nil {
		g.refuse(m, server.JSApiConsumerCreateResponseType, 400, "invalid consumer create request: "+err.Error())
		return
	}
	switch {
	case req.Config.DeliverSubject != "":
		g.refuse(m, server.JSApiConsumerCreateResponseType, 403, "user subscriber may create pull consumers only: leave deliver_subject empty (use an ordered or pull consumer)")
		return
	case req.Config.Durable != "":
		g.refuse(m, server.JSApiConsumerCreateResponseType, 403, "user subscriber may create ephemeral consumers only: leave durable_name empty")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if reason := g.notTheSubscribers(ctx, name); reason != "" {
		g.refuse(m, server.JSApiConsumerCreateResponseType, 403, reason)
		return
	}
	stream, err := g.js.Stream(ctx, events.Stream)
	if err == nil && stream.CachedInfo().State.Consumers >= maxConsumers {
		g.refuse(m, server.JSApiConsumerCreateResponseType, 503, fmt.Sprintf("stream %s has %d consumers already: try again later", events.Stream, maxConsumers))
		return
	}
	if req.Config.InactiveThreshold > maxInactiveTime {
		req.Config.InactiveThreshold = maxInactiveTime
	}
	if req.Config.Metadata == nil {
		req.Config.Metadata = map[string]string{}
	}
	req.Config.Metadata[createdByKey] = createdByValue
	body, err := json.Marshal(req)
	if err != nil {
		g.refuse(m, server.JSApiConsumerCreateResponseType, 500, "internal error")
		return
	}
	g.forward(ctx, m, apiConsumerCreate+rest, body, server.JSApiConsumerCreateResponseType)
}

func (g *consumerGate) delete(m *nats.Msg) {
	name := strings.TrimPrefix(m.Subject, gateDelete)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if reason := g.notTheSubscribers(ctx, name); reason != "" {
		g.refuse(m, server.JSApiConsumerDeleteResponseType, 403, reason)
		return
	}
	g.forward(ctx, m, apiConsumerDelete+name, m.Data, server.JSApiConsumerDeleteResponseType)
}

// notTheSubscribers says why the consumer name is not the subscriber's to create, update or
// delete: a consumer of the service, or any consumer the gate did not create. "" if it is.
func (g *consumerGate) notTheSubscribers(ctx context.Context, name string) string {
	for _, s := range serviceConsumers {
		if name == s {
			return fmt.Sprintf("consumer %s belongs to the service", name)
		}
	}
	c, err := g.js.Consumer(ctx, events.Stream, name)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		return ""
	case err != nil:
		return fmt.Sprintf("consumer %s: %v", name, err)
	case c.CachedInfo().Config.Metadata[createdByKey] != createdByValue:
		return fmt.Sprintf("consumer %s belongs to the service", name)
	}
	return ""
}

// forward makes the request of the JetStream API and passes its answer back unchanged.
func (g *consumerGate) forward(ctx context.Context, m *nats.Msg, subject string, body []byte, respType string) {
	resp, err := g.nc.RequestWithContext(ctx, subject, body)
	if err != nil {
		g.log.Warn("JetStream API request failed", "subject", subject, "err", err)
		g.refuse(m, respType, 503, "JetStream did not answer: "+err.Error())
		return
	}
	if err := m.Respond(resp.Data); err != nil {
		g.log.Debug("answer to subscriber lost", "err", err)
	}
}

// refuse answers in the JetStream API's own error shape, so clients report the reason.
func (g *consumerGate) refuse(m *nats.Msg, respType string, code int, description string) {
	body, _ := json.Marshal(server.ApiResponse{Type: respType, Error: &server.ApiError{Code: code, Description: description}})
	if err := m.Respond(body); err != nil {
		g.log.Debug("answer to subscriber lost", "err", err)
	}
}
