// Package natsbus connects the services to NATS JetStream: the embedded server, client
// connections that survive server restarts, the FACTORIAL stream and its lane consumers
// (provisioned in the background and recreated when they vanish), publishing, fetching work
// in batches, and following the stream's events.
//
// It is written on nats.go's jetstream package directly. An earlier version ran watermill
// (watermill-nats) over it, which got in the way of what the service needs:
//
//   - Batches. The small lane fetches many requests at once, claims them in one database
//     statement and acks them together; watermill hands a handler one message at a time.
//   - Publishing with a context. watermill-nats's publisher calls PublishMsg with
//     context.Background(), so a publish to a stream without a leader waited the full client
//     timeout (5 s per POST); jetstream.PublishMsgAsync takes many messages whose acks are
//     awaited together under the caller's deadline.
//   - Heartbeats. watermill hides the raw message, so keeping a long computation alive
//     (InProgress) needed an unmarshaler that remembered each message by UUID and a middleware
//     that found it again; here the worker holds the jetstream.Msg.
//   - Shutdown. watermill-nats's fan-out subscriber panicked with "send on closed channel" in
//     (*Subscriber).handleMsg when it was closed under load (an api SIGTERM, 2 of 2 times); the
//     Follower here owns its loop and stops it before returning.
//   - Lost pull requests. Fetches here carry an idle heartbeat and a short expiry, so a pull
//     request that a restarted or lost node forgot is noticed in seconds (see Worker).
package natsbus
