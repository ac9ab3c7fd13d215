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
	events.SubjectComputed + " with text": events.Computed{
		Number: 20, Status: events.StatusDone, Checksum: strings.Repeat("cd", 32), Size: 19, Digits: 19,
		ComputedAt: time.Now().UTC(), Text: "2432902008176640000", CreatedAt: ptr(time.Now().UTC()),
	},
	events.SubjectFailed:    events.Failed{Number: 20, Error: "boom", Attempts: 3, FailedAt: time.Now().UTC()},
	events.SubjectProgress:  events.Progress{Number: 20, Progress: 0.5, At: time.Now().UTC()},
	events.SubjectCancelled: events.Cancelled{Number: 20, CancelledAt: time.Now().UTC()},
}

func ptr[T any](v T) *T { return &v }

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

// The Go types and the JSON Schemas describe the same fields, required unless omitempty, and
// an encoded sample of each type (with its optional fields and without) is valid against its
// schema.
func TestTypesMatchSchemas(t *testing.T) {
	for name, sample := range samples {
		t.Run(name, func(t *testing.T) {
			subject, _, _ := strings.Cut(name, " ")
			schema, doc := compile(t, subject)

			var tags, requiredTags []string
			typ := reflect.TypeOf(sample)
			for i := range typ.NumField() {
				name, opts, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
				tags = append(tags, name)
				if opts != "omitempty" {
					requiredTags = append(requiredTags, name)
				}
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
			slices.Sort(requiredTags)
			slices.Sort(props)
			slices.Sort(required)
			if !slices.Equal(tags, props) {
				t.Errorf("Go fields %v, schema properties %v", tags, props)
			}
			if !slices.Equal(requiredTags, required) {
				t.Errorf("Go fields without omitempty %v, schema required %v", requiredTags, required)
			}
			if doc["additionalProperties"] != false {
				t.Errorf("schema allows additional properties; Decode refuses them")
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
		{events.SubjectCancelled, `{"number": -1, "cancelled_at": "2026-01-01T00:00:00Z"}`},
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
	for name, sample := range samples {
		t.Run(name, func(t *testing.T) {
			data, err := events.Encode(sample)
			if err != nil {
				t.Fatal(err)
			}
			out := reflect.New(reflect.TypeOf(sample))
			if err := events.Decode(data, out.Interface()); err != nil {
				t.Fatal(err)
			}
			again, _ := events.Encode(out.Elem().Interface())
			if !bytes.Equal(again, data) {
				t.Fatalf("round trip:\n%s\n%s", data, again)
			}
		})
	}
}

const at = `"2026-01-01T00:00:00Z"`

// Decode refuses every payload that is not exactly one well-typed object of the type's own
// fields, and the schema of the subject refuses the same ones wherever JSON Schema can say it
// (a duplicate key cannot be seen once the JSON is parsed).
func TestDecodeIsStrict(t *testing.T) {
	tests := []struct {
		name, payload, wantErr string
		schemaCanTell          bool
	}{
		{"an empty object has no number", `{}`, "missing field number, requested_at", true},
		{"null is not an object", `null`, "not a JSON object", true},
		{"an array is not an object", `[{"number":1,"requested_at":` + at + `}]`, "not a JSON object", true},
		{"a duplicate key is refused, not last-wins", `{"number":12,"number":13,"requested_at":` + at + `}`, `field "number" appears twice`, false},
		{"an unknown field is refused", `{"number":1,"requested_at":` + at + `,"priority":9}`, `unknown field "priority"`, true},
		{"a field is spelled exactly", `{"Number":1,"requested_at":` + at + `}`, `unknown field "Number"`, true},
		{"a string is not a number", `{"number":"5","requested_at":` + at + `}`, "cannot unmarshal string", true},
		{"a fraction is not a number", `{"number":1.5,"requested_at":` + at + `}`, "cannot unmarshal number 1.5", true},
		{"an exponent is not a number", `{"number":1e3,"requested_at":` + at + `}`, "cannot unmarshal number 1e3", false},
		{"a number beyond int64", `{"number":9223372036854775808,"requested_at":` + at + `}`, "cannot unmarshal number", false},
		{"a null number", `{"number":null,"requested_at":` + at + `}`, `field "number" is null`, true},
		{"a negative number", `{"number":-1,"requested_at":` + at + `}`, "number -1 is negative", true},
		{"a time that is not RFC 3339", `{"number":1,"requested_at":"yesterday"}`, "requested_at", true},
		{"a missing time", `{"number":1}`, "missing field requested_at", true},
		{"two objects", `{"number":1,"requested_at":` + at + `} {"number":2,"requested_at":` + at + `}`, "trailing data", false},
		{"not JSON", `number=1`, "not JSON", false},
		{"an unterminated object", `{"number":1,"requested_at":` + at, "malformed object", false},
		{"empty", ``, "not JSON", false},
	}
	schema, _ := compile(t, events.SubjectRequested)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r events.Requested
			err := events.Decode([]byte(tt.payload), &r)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "decode event: ") {
				t.Fatalf("Decode(%s) = %v (%+v), want an error with %q", tt.payload, err, r, tt.wantErr)
			}
			if !tt.schemaCanTell {
				return
			}
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(tt.payload))
			if err == nil && schema.Validate(inst) == nil {
				t.Errorf("the schema accepts %s", tt.payload)
			}
		})
	}
	var r events.Requested
	if err := events.Decode([]byte(`{"requested_at":`+at+`,"number":12}`), &r); err != nil || r.Number != 12 {
		t.Errorf("a good payload in any key order: %v %+v", err, r)
	}
	if err := events.Decode([]byte(`{"number":1,"requested_at":`+at+`}`), r); err == nil {
		t.Error("Decode into a non-pointer must fail")
	}
}

func TestDecodeChecksEachPayloadsRules(t *testing.T) {
	sum := `"` + strings.Repeat("ab", 32) + `"`
	tests := []struct {
		name    string
		v       any
		payload string
		wantErr string
	}{
		{"computed must be done", &events.Computed{}, `{"number":1,"status":"pending","key":"k","bucket":"","checksum":` + sum + `,"size":1,"digits":1,"compute_ms":0,"computed_at":` + at + `}`, "status"},
		{"computed says where the digits are", &events.Computed{}, `{"number":1,"status":"done","key":"","bucket":"","checksum":` + sum + `,"size":1,"digits":1,"compute_ms":0,"computed_at":` + at + `}`, "neither key nor text"},
		{"computed text matches its size", &events.Computed{}, `{"number":3,"status":"done","key":"","bucket":"","checksum":` + sum + `,"size":2,"digits":1,"compute_ms":0,"computed_at":` + at + `,"text":"6"}`, "size says 2"},
		{"progress is within 0 and 1", &events.Progress{}, `{"number":1,"progress":1.5,"at":` + at + `}`, "progress 1.5"},
		{"failed number is not negative", &events.Failed{}, `{"number":-3,"error":"x","attempts":1,"failed_at":` + at + `}`, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := events.Decode([]byte(tt.payload), tt.v); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Decode = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzDecode feeds hostile payloads to Decode: it must never panic, and whatever it accepts
// is a request it can encode and read back unchanged, with a number that is not negative.
// Every payload type is also read by the reference decoder (encoding/json's token reader,
// which Decode's lexer replaced): both accept the same payloads and read the same values.
// `make test` runs the seeds; CI fuzzes it for a few seconds.
func FuzzDecode(f *testing.F) {
	sum := `"` + strings.Repeat("ab", 32) + `"`
	for _, seed := range []string{
		`{"number":5,"requested_at":` + at + `}`,
		`{}`, `null`, `[]`, `""`, `0`, `{"number":12,"number":13,"requested_at":` + at + `}`,
		`{"number":"5","requested_at":` + at + `}`, `{"number":1e3,"requested_at":` + at + `}`,
		`{"number":-0,"requested_at":` + at + `}`, `{"number":-1,"requested_at":` + at + `}`,
		`{"NUMBER":1,"requested_at":` + at + `}`, `{"number":1,"requested_at":"2026-13-45T99:00:00Z"}`,
		`{"number":1,"requested_at":` + at + `,"number\u0000":2}`, `{"number":99999999999999999999999}`,
		`{"number":[[[[[[[[[[1]]]]]]]]]]}`, strings.Repeat("[", 20000), "{\"number\":1,\"requested_at\":\"\xff\xfe\"}",
		`{"number":1,"requested_at":` + at + `}garbage`, `{"number":1,"requested_at":` + at + `,}`,
		` { "num\u0062er" : 7 , "requested_at" : ` + at + ` } `, `{"number":01,"requested_at":` + at + `}`,
		`{"number":1.,"requested_at":` + at + `}`, `{"number":-,"requested_at":` + at + `}`, `{"number":1e+,"requested_at":` + at + `}`,
		`{"number":true,"requested_at":` + at + `}`, `{"number":nul}`, `{"number" 1}`, `{"number":1 "requested_at":` + at + `}`,
		`{"requested_at":"2026-11-24T10:00:00\u005A","number":3}`, "{\"number\":1,\"requested_at\":\"a\tb\"}",
		`{"number":1,"requested_at":"\ud800"}`, `{"number":1,"requested_at":"\x"}`, `{"number":1,"requested_at":"`,
		`{"number":20,"status":"done","key":"","bucket":"","checksum":` + sum + `,"size":19,"digits":19,"compute_ms":1,` +
			`"computed_at":` + at + `,"text":"2432902008176640000","created_at":` + at + `}`,
		`{"number":1,"error":"caf\u00e9 \"quoted\" \\ é","attempts":2,"failed_at":` + at + `}`,
		`{"number":1,"progress":0.5e0,"at":` + at + `}`, `{"number":1,"cancelled_at":` + at + `}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []any{&events.Computed{}, &events.Failed{}, &events.Progress{}, &events.Cancelled{}, &events.Requested{}} {
			ref := reflect.New(reflect.TypeOf(v).Elem()).Interface()
			err, refErr := events.Decode(data, v), events.ReferenceDecode(data, ref)
			if (err == nil) != (refErr == nil) {
				t.Fatalf("%q into %T: Decode says %v, the reference decoder %v", data, v, err, refErr)
			}
			if err == nil && !reflect.DeepEqual(v, ref) {
				t.Fatalf("%q into %T: Decode reads %+v, the reference decoder %+v", data, v, v, ref)
			}
		}
		var r events.Requested
		if err := events.Decode(data, &r); err != nil {
			return
		}
		if r.Number < 0 {
			t.Fatalf("accepted a negative number from %q", data)
		}
		again, err := events.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		var back events.Requested
		if err := events.Decode(again, &back); err != nil || back.Number != r.Number || !back.RequestedAt.Equal(r.RequestedAt) {
			t.Fatalf("%q decoded to %+v, which reads back as %+v (%v)", data, r, back, err)
		}
	})
}

func TestLanes(t *testing.T) {
	for _, tt := range []struct {
		n       int64
		lane    events.Lane
		subject string
	}{
		{0, events.LaneSmall, "factorial.requested.small.0"},
		{events.SmallMaxNumber, events.LaneSmall, "factorial.requested.small.20000"},
		{events.SmallMaxNumber + 1, events.LaneLarge, "factorial.requested.large.20001"},
		{10_000_000, events.LaneLarge, "factorial.requested.large.10000000"},
	} {
		if got := events.LaneOf(tt.n); got != tt.lane {
			t.Errorf("LaneOf(%d) = %s, want %s", tt.n, got, tt.lane)
		}
		if got := events.RequestedSubject(tt.n); got != tt.subject {
			t.Errorf("RequestedSubject(%d) = %s, want %s", tt.n, got, tt.subject)
		}
		lane, n, err := events.ParseRequestedSubject(tt.subject)
		if err != nil || lane != tt.lane || n != tt.n {
			t.Errorf("ParseRequestedSubject(%s) = %s %d %v", tt.subject, lane, n, err)
		}
	}
	for _, bad := range []string{
		"factorial.requested", "factorial.requested.small", "factorial.requested.medium.5",
		"factorial.requested.small.-1", "factorial.requested.small.05", "factorial.requested.small.+5",
		"factorial.requested.small.5.6", "factorial.requested.large.5", "factorial.requested.small.20001",
		"factorial.computed.small.5", "factorial.requested.small.99999999999999999999",
	} {
		if _, _, err := events.ParseRequestedSubject(bad); err == nil {
			t.Errorf("ParseRequestedSubject(%s) accepted it", bad)
		}
	}
	if events.LaneSmall.Durable() != "calculator-small" || events.LaneLarge.Filter() != "factorial.requested.large.>" {
		t.Errorf("names: %s %s", events.LaneSmall.Durable(), events.LaneLarge.Filter())
	}
}

// The cost grows with n, and is calibrated on the engine's measured times (see Cost): 10^6
// about 60 ms, 10^7 about 0.75 s, 10^8 about 30 s, the largest small request about a
// millisecond.
func TestCost(t *testing.T) {
	prev := time.Duration(0)
	for n := int64(0); n <= 100_000_000; n = n*3 + 1 {
		c := events.Cost(n)
		if c <= 0 || c < prev {
			t.Fatalf("Cost(%d) = %v after %v", n, c, prev)
		}
		prev = c
	}
	for _, tt := range []struct {
		n        int64
		min, max time.Duration
	}{
		{events.SmallMaxNumber, 400 * time.Microsecond, 2 * time.Millisecond},
		{1_000_000, 40 * time.Millisecond, 90 * time.Millisecond},
		{10_000_000, 500 * time.Millisecond, 1100 * time.Millisecond},
		{30_000_000, 2 * time.Second, 4 * time.Second},
		{50_000_000, 10 * time.Second, 20 * time.Second},
		{100_000_000, 22 * time.Second, 45 * time.Second},
	} {
		if c := events.Cost(tt.n); c < tt.min || c > tt.max {
			t.Errorf("Cost(%d) = %v, want between %v and %v", tt.n, c, tt.min, tt.max)
		}
	}
}

// BenchmarkDecodeComputed reads a factorial.computed carrying the digits of 10000! (35,660
// bytes), with Decode and with the reference decoder it replaced.
func BenchmarkDecodeComputed(b *testing.B) {
	text := strings.Repeat("1234567890", 3566)
	data, err := events.Encode(events.Computed{Number: 10000, Status: events.StatusDone, Checksum: strings.Repeat("ab", 32),
		Size: int64(len(text)), Digits: int64(len(text)), ComputedAt: time.Now().UTC(), Text: text})
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range []struct {
		name   string
		decode func([]byte, any) error
	}{{"Decode", events.Decode}, {"reference", events.ReferenceDecode}} {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				var c events.Computed
				if err := d.decode(data, &c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A factorial.computed with the digits in it is encoded exactly as encoding/json encodes it
// (the digits are copied in, not escaped byte by byte), and decodes to what was encoded;
// text that is not all digits goes through encoding/json as ever.
func TestEncodeComputedWithDigits(t *testing.T) {
	at := time.Date(2026, 11, 26, 16, 0, 0, 123456000, time.UTC)
	digits := strings.Repeat("0123456789", 3566)
	for name, c := range map[string]events.Computed{
		"digits": {Number: 10000, Status: events.StatusDone, Checksum: "ab", Size: int64(len(digits)), Digits: int64(len(digits)),
			ComputedAt: at, CreatedAt: &at, Text: digits},
		"a key that looks like the pattern": {Number: 7, Status: events.StatusDone, Key: `"text":"0"`, ComputedAt: at, Text: digits, Size: int64(len(digits))},
		"no created_at":                     {Number: 8, Status: events.StatusDone, ComputedAt: at, Text: digits, Size: int64(len(digits))},
		"not digits":                        {Number: 9, Status: events.StatusDone, ComputedAt: at, Text: strings.Repeat("12\"<\n", 100), Size: 500},
		"short":                             {Number: 5, Status: events.StatusDone, ComputedAt: at, Text: "120", Size: 3},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := events.Encode(c)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(c)
			if !bytes.Equal(got, want) {
				t.Fatalf("Encode differs from encoding/json:\n got %.200s\nwant %.200s", got, want)
			}
			var back events.Computed
			if err := json.Unmarshal(got, &back); err != nil || back.Text != c.Text || back.Key != c.Key {
				t.Fatalf("decoded back: %v, text equal %v", err, back.Text == c.Text)
			}
		})
	}
}

// The digits of a result are checked and scanned eight bytes at a time: a byte that is not
// a digit, at any place of a long text, is still seen, by Encode (which copies only digits
// as they are) and by Decode (which leaves anything else to encoding/json), both exactly as
// encoding/json would.
func TestLongTextsWithOneOddByte(t *testing.T) {
	digits := strings.Repeat("9876543210", 40)
	for p := 0; p < 40; p++ {
		for _, odd := range []string{"/", ":", "a", " ", "\"", "\\", "\x00", "\x1f", "\x7f", "é", "\xff", "0"} {
			text := digits[:p] + odd + digits[p+1:]
			c := events.Computed{Number: 7, Status: events.StatusDone, Checksum: strings.Repeat("ab", 32),
				Size: int64(len(text)), Digits: int64(len(text)), ComputedAt: time.Date(2026, 11, 26, 22, 0, 0, 0, time.UTC), Text: text}
			got, err := events.Encode(c)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(c)
			if !bytes.Equal(got, want) {
				t.Fatalf("Encode with %q at %d differs from encoding/json:\n%s\n%s", odd, p, got, want)
			}
			var dec, ref events.Computed
			err, refErr := events.Decode(got, &dec), events.ReferenceDecode(got, &ref)
			if (err == nil) != (refErr == nil) || !reflect.DeepEqual(dec, ref) {
				t.Fatalf("Decode with %q at %d: %v, reference %v; %q against %q", odd, p, err, refErr, dec.Text, ref.Text)
			}
		}
	}
}
