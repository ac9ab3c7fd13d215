package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
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
	dec.UseNumber()
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
		// One pass over the value: payloads are flat, so every value is a scalar token.
		val, err := dec.Token()
		if err != nil {
			return fmt.Errorf("field %q: %w", key, err)
		}
		if val == nil {
			return fmt.Errorf("field %q is null", key)
		}
		if err := set(out.Field(f.index), val); err != nil {
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

var timeType = reflect.TypeFor[time.Time]()

// set stores the JSON scalar tok (as json.Decoder.Token returns it, with UseNumber) in f,
// refusing null, objects, arrays and any value of another type than f's.
func set(f reflect.Value, tok json.Token) error {
	if tok == nil {
		return errors.New("is null")
	}
	if d, ok := tok.(json.Delim); ok {
		return fmt.Errorf("json: cannot unmarshal %s into Go value of type %s", map[json.Delim]string{'{': "object", '[': "array"}[d], f.Type())
	}
	if f.Kind() == reflect.Pointer {
		p := reflect.New(f.Type().Elem())
		if err := set(p.Elem(), tok); err != nil {
			return err
		}
		f.Set(p)
		return nil
	}
	mismatch := func() error {
		kind := "string"
		switch v := tok.(type) {
		case json.Number:
			kind = "number " + string(v)
		case bool:
			kind = "bool"
		}
		return fmt.Errorf("json: cannot unmarshal %s into Go value of type %s", kind, f.Type())
	}
	if f.Type() == timeType {
		s, ok := tok.(string)
		if !ok {
			return mismatch()
		}
		var t time.Time
		if err := t.UnmarshalText([]byte(s)); err != nil {
			return fmt.Errorf("parsing time %q as RFC 3339: %w", s, err)
		}
		f.Set(reflect.ValueOf(t))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		s, ok := tok.(string)
		if !ok {
			return mismatch()
		}
		f.SetString(s)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := tok.(json.Number)
		if !ok {
			return mismatch()
		}
		i, err := strconv.ParseInt(string(n), 10, f.Type().Bits())
		if err != nil {
			return mismatch()
		}
		f.SetInt(i)
	case reflect.Float32, reflect.Float64:
		n, ok := tok.(json.Number)
		if !ok {
			return mismatch()
		}
		x, err := strconv.ParseFloat(string(n), f.Type().Bits())
		if err != nil {
			return mismatch()
		}
		f.SetFloat(x)
	case reflect.Bool:
		b, ok := tok.(bool)
		if !ok {
			return mismatch()
		}
		f.SetBool(b)
	default:
		return fmt.Errorf("unsupported field type %s", f.Type())
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
