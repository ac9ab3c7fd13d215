package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Encode marshals an event payload.
func Encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	return b, nil
}

// Decode unmarshals an event payload into v, a pointer to one of the payload structs, and
// is strict, since a request that is misread is computed wrongly or not at all:
//
//   - the payload is exactly one JSON object;
//   - every key is a field of the type, spelled exactly (no case folding), and appears once;
//   - every field without omitempty is present, and no field is null;
//   - each value has the field's type (a number for number, an RFC 3339 time for a time);
//   - the payload's own rules hold (its Validate method: a number is not negative, …).
//
// A newer producer that adds a field must therefore add it with omitempty and readers must
// be upgraded first; the schemas in schemas/ say the same (additionalProperties: false).
func Decode(data []byte, v any) error {
	if err := decode(data, v); err != nil {
		return fmt.Errorf("decode event: %w", err)
	}
	return nil
}

func decode(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("%T is not a pointer to a struct", v)
	}
	fields := fieldsOf(rv.Elem().Type())
	out := reflect.New(rv.Elem().Type()).Elem()

	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	} else if tok != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("malformed object: %w", err)
		}
		key, _ := tok.(string)
		f, ok := fields[key]
		if !ok {
			return fmt.Errorf("unknown field %q", key)
		}
		if seen[key] {
			return fmt.Errorf("field %q appears twice", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("field %q: %w", key, err)
		}
		if string(raw) == "null" {
			return fmt.Errorf("field %q is null", key)
		}
		if err := json.Unmarshal(raw, out.Field(f.index).Addr().Interface()); err != nil {
			return fmt.Errorf("field %q: %w", key, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("malformed object: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	var missing []string
	for name, f := range fields {
		if f.required && !seen[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("missing field %s", strings.Join(missing, ", "))
	}

	rv.Elem().Set(out)
	if val, ok := v.(interface{ Validate() error }); ok {
		return val.Validate()
	}
	return nil
}

// field is a field of a payload struct: where it is, and whether it is required (no omitempty).
type field struct {
	index    int
	required bool
}

// fieldsOf maps the JSON names of t's fields to the fields.
func fieldsOf(t reflect.Type) map[string]field {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]field)
	}
	fields := map[string]field{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		fields[name] = field{index: i, required: !strings.Contains(","+opts+",", ",omitempty,")}
	}
	fieldCache.Store(t, fields)
	return fields
}

var fieldCache sync.Map // reflect.Type -> map[string]field
