// Package events holds the contracts of the factorial service's events: the JetStream stream,
// its subjects, the payload types and their JSON Schemas. Outside subscribers can import it
// to read factorial.computed without depending on anything else of the service.
package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Stream is the JetStream stream that carries every factorial event.
const Stream = "FACTORIAL"

// Subjects of the stream.
const (
	SubjectAll       = "factorial.>"
	SubjectRequested = "factorial.requested"
	SubjectComputed  = "factorial.computed"
	SubjectFailed    = "factorial.failed"
	SubjectProgress  = "factorial.progress"
)

// CalculatorDurable is the durable consumer shared by every calculator replica.
const CalculatorDurable = "calculator"

// StatusDone is the only status a Computed event carries.
const StatusDone = "done"

// Requested asks for n! to be computed.
type Requested struct {
	Number      int64     `json:"number"`
	RequestedAt time.Time `json:"requested_at"`
}

// Computed announces that n! is stored and verified.
type Computed struct {
	Number     int64     `json:"number"`
	Status     string    `json:"status"`
	Key        string    `json:"key"`
	Bucket     string    `json:"bucket"`
	Checksum   string    `json:"checksum"` // hex SHA-256 of the decimal text
	Size       int64     `json:"size"`     // bytes of the decimal text
	Digits     int64     `json:"digits"`
	ComputeMS  int64     `json:"compute_ms"`
	ComputedAt time.Time `json:"computed_at"`
}

// Failed announces that n! could not be computed after Attempts deliveries.
type Failed struct {
	Number   int64     `json:"number"`
	Error    string    `json:"error"`
	Attempts int       `json:"attempts"`
	FailedAt time.Time `json:"failed_at"`
}

// Progress tells how far the computation of n! is, about once a second while it runs.
type Progress struct {
	Number   int64     `json:"number"`
	Progress float64   `json:"progress"` // 0 to 1, never decreasing for one computation
	At       time.Time `json:"at"`
}

// Encode marshals an event payload.
func Encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	return b, nil
}

// Decode unmarshals an event payload. Unknown fields are ignored, so producers can add fields
// without breaking older subscribers; a payload that is not one JSON object is an error.
func Decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode event: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("decode event: trailing data after the JSON object")
	}
	return nil
}
