package events_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/factorial-service/factorial/events"
)

var samples = map[string]any{
	events.SubjectRequested: events.Requested{Number: 20, RequestedAt: time.Now().UTC()},
	events.SubjectComputed: events.Computed{
		Number: 20, Status: events.StatusDone, Key: "factorials/20.txt", Bucket: "results",
		Checksum: strings.Repeat("ab", 32), Size: 19, Digits: 19, ComputeMS: 1, ComputedAt: time.Now().UTC(),
	},
	events.SubjectFailed:   events.Failed{Number: 20, Error: "boom", Attempts: 3, FailedAt: time.Now().UTC()},
	events.SubjectProgress: events.Progress{Number: 20, Progress: 0.5, At: time.Now().UTC()},
}

func compile(t *testing.T, subject string) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	raw, err := events.Schemas.ReadFile("schemas/" + subject + ".schema.json")
	if err != nil {
		t.Fatalf("no schema for %s: %v", subject, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(subject+".json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(subject + ".json")
	if err != nil {
		t.Fatal(err)
	}
	return s, doc.(map[string]any)
}

// The Go types and the JSON Schemas describe the same fields, all of them required, and an
// encoded sample of each type is valid against its schema.
func TestTypesMatchSchemas(t *testing.T) {
	for subject, sample := range samples {
		t.Run(subject, func(t *testing.T) {
			schema, doc := compile(t, subject)

			var tags []string
			typ := reflect.TypeOf(sample)
			for i := range typ.NumField() {
				tags = append(tags, strings.Split(typ.Field(i).Tag.Get("json"), ",")[0])
			}
			var props []string
			for name := range doc["properties"].(map[string]any) {
				props = append(props, name)
			}
			var required []string
			for _, r := range doc["required"].([]any) {
				required = append(required, r.(string))
			}
			slices.Sort(tags)
			slices.Sort(props)
			slices.Sort(required)
			if !slices.Equal(tags, props) {
				t.Errorf("Go fields %v, schema properties %v", tags, props)
			}
			if !slices.Equal(tags, required) {
				t.Errorf("Go fields %v, schema required %v", tags, required)
			}

			data, err := events.Encode(sample)
			if err != nil {
				t.Fatal(err)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(inst); err != nil {
				t.Errorf("encoded %T is not valid: %v", sample, err)
			}
		})
	}
}

func TestSchemasRejectBadPayloads(t *testing.T) {
	tests := []struct {
		subject, payload string
	}{
		{events.SubjectRequested, `{"number": -1, "requested_at": "2026-01-01T00:00:00Z"}`},
		{events.SubjectRequested, `{"number": 1.5, "requested_at": "2026-01-01T00:00:00Z"}`},
		{events.SubjectRequested, `{"requested_at": "2026-01-01T00:00:00Z"}`},
		{events.SubjectComputed, `{"number": 1, "status": "pending", "key": "k", "bucket": "", "checksum": "x", "size": 1, "digits": 1, "compute_ms": 0, "computed_at": "2026-01-01T00:00:00Z"}`},
		{events.SubjectFailed, `{"number": 1, "error": "", "attempts": 0, "failed_at": "yesterday"}`},
		{events.SubjectProgress, `{"number": 1, "progress": 1.5, "at": "2026-01-01T00:00:00Z"}`},
	}
	for _, tt := range tests {
		t.Run(tt.subject, func(t *testing.T) {
			schema, _ := compile(t, tt.subject)
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			if schema.Validate(inst) == nil {
				t.Errorf("schema accepted %s", tt.payload)
			}
		})
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	in := samples[events.SubjectComputed].(events.Computed)
	data, err := events.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	var out events.Computed
	if err := events.Decode(data, &out); err != nil {
		t.Fatal(err)
	}
	if !out.ComputedAt.Equal(in.ComputedAt) {
		t.Fatalf("computed_at %v, want %v", out.ComputedAt, in.ComputedAt)
	}
	out.ComputedAt = in.ComputedAt
	if out != in {
		t.Fatalf("round trip: %+v, want %+v", out, in)
	}

	var m map[string]any
	_ = json.Unmarshal(data, &m)
	m["added_later"] = true
	extended, _ := json.Marshal(m)
	if err := events.Decode(extended, &out); err != nil {
		t.Errorf("a field added by a newer producer must be ignored: %v", err)
	}
	if err := events.Decode([]byte(`{"number":1} {"number":2}`), &out); err == nil {
		t.Error("two objects in one payload must be an error")
	}
	if err := events.Decode([]byte(`not json`), &out); err == nil {
		t.Error("malformed payload must be an error")
	}
}
