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
)

// referenceDecode is how Decode read payloads before its lexer: with encoding/json's token
// reader. FuzzDecode checks that the two accept the same payloads and read the same values.
func referenceDecode(data []byte, v any) error {
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
