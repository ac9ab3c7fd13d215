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
	if c, ok := v.(Computed); ok && len(c.Text) >= minSplice && digitsOnly(c.Text) {
		return encodeWithText(c)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	return b, nil
}

// minSplice is the length of text from which encodeWithText is worth it.
const minSplice = 256

// encodeWithText encodes a factorial.computed whose text is all digits as json.Marshal
// does, byte for byte, but copies the digits in once: encoding/json looks at each byte of a
// string for what to escape, and digits have nothing to escape (tens of microseconds for the
// 35,660 digits of 10,000!, on the way of every small result). The rest is encoded with a
// one-digit text, which the digits then replace: `"text":"0"` appears only there, since a
// quote inside any other string is escaped.
func encodeWithText(c Computed) ([]byte, error) {
	text := c.Text
	c.Text = "0"
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	const pattern = `"text":"0"`
	i := bytes.Index(b, []byte(pattern))
	if i < 0 {
		return nil, errors.New("encode event: no text in the encoded factorial.computed")
	}
	at := i + len(pattern) - 2 // the placeholder digit
	out := make([]byte, 0, len(b)-1+len(text))
	out = append(out, b[:at]...)
	out = append(out, text...)
	return append(out, b[at+1:]...), nil
}

// digitsOnly reports whether s is made of the digits 0 to 9 only.
func digitsOnly(s string) bool {
	i := digitsPrefix(s, 0)
	for ; i < len(s); i++ {
		if s[i]-'0' > 9 {
			return false
		}
	}
	return true
}

// digitsPrefix returns the first index from i at which eight bytes of s that are all ASCII
// digits do not start (i itself when they do not): the digits of a result are checked and
// scanned eight at a time, where a byte at a time was 5% of the API's CPU under
// make bench-load (the lexer over the digits of every factorial.computed).
func digitsPrefix[T string | []byte](s T, i int) int {
	const hi, three, six = 0xF0F0F0F0F0F0F0F0, 0x3030303030303030, 0x0606060606060606
	for ; i+8 <= len(s); i += 8 {
		v := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// Each byte's high nibble is 3, and adding 6 does not carry out of its low one.
		if v&hi != three || (v+six)&hi != three {
			break
		}
	}
	return i
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

	// Payloads are flat objects, read here in one pass over the bytes (lexer): the digits of
	// a small result (up to 512 KiB in factorial.computed) are found and checked in a tight
	// loop and copied once, where encoding/json's token reader, used before, went over them
	// byte by byte in its scanner, then again to unquote them (a quarter of the API's CPU in
	// make bench-load, in the one goroutine that follows the events). What it accepts and
	// refuses is the same: FuzzDecode checks it against that reader.
	l := lexer{data: data}
	l.space()
	if l.end() {
		return errors.New("not JSON: EOF")
	}
	if l.data[l.pos] != '{' {
		if _, err := l.value(); err != nil {
			return fmt.Errorf("not JSON: %w", err)
		}
		return errors.New("not a JSON object")
	}
	l.pos++
	seen := make(map[string]bool, len(fields))
	l.space()
	if !l.end() && l.data[l.pos] == '}' {
		l.pos++
	} else {
		for {
			l.space()
			key, err := l.str()
			if err != nil {
				return fmt.Errorf("malformed object: %w", err)
			}
			f, ok := fields[key]
			if !ok {
				return fmt.Errorf("unknown field %q", key)
			}
			if seen[key] {
				return fmt.Errorf("field %q appears twice", key)
			}
			seen[key] = true
			l.space()
			if err := l.expect(':'); err != nil {
				return fmt.Errorf("field %q: %w", key, err)
			}
			l.space()
			val, err := l.value()
			if err != nil {
				return fmt.Errorf("field %q: %w", key, err)
			}
			if val == nil {
				return fmt.Errorf("field %q is null", key)
			}
			if err := set(out.Field(f.index), val); err != nil {
				return fmt.Errorf("field %q: %w", key, err)
			}
			l.space()
			if !l.end() && l.data[l.pos] == ',' {
				l.pos++
				continue
			}
			if err := l.expect('}'); err != nil {
				return fmt.Errorf("malformed object: %w", err)
			}
			break
		}
	}
	l.space()
	if !l.end() {
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

// lexer reads the JSON tokens of a flat object, as json.Decoder.Token (with UseNumber) would
// return them: strings, json.Number, bools, nil for null, and json.Delim for the start of
// an object or array (which payloads never hold: set refuses them).
type lexer struct {
	data []byte
	pos  int
}

func (l *lexer) end() bool { return l.pos >= len(l.data) }

func (l *lexer) space() {
	for l.pos < len(l.data) {
		switch l.data[l.pos] {
		case ' ', '\t', '\n', '\r':
			l.pos++
		default:
			return
		}
	}
}

// unexpected is the error for the byte at l.pos, or the end, where want was expected.
func (l *lexer) unexpected(want string) error {
	if l.end() {
		return io.ErrUnexpectedEOF
	}
	return fmt.Errorf("invalid character %q at offset %d, looking for %s", l.data[l.pos], l.pos, want)
}

func (l *lexer) expect(c byte) error {
	if l.end() || l.data[l.pos] != c {
		return l.unexpected(strconv.QuoteRune(rune(c)))
	}
	l.pos++
	return nil
}

// value reads one value: a scalar, or the delimiter that starts an object or array.
func (l *lexer) value() (json.Token, error) {
	if l.end() {
		return nil, io.ErrUnexpectedEOF
	}
	switch c := l.data[l.pos]; {
	case c == '"':
		return l.str()
	case c == '{' || c == '[':
		l.pos++
		return json.Delim(c), nil
	case c == '-' || c >= '0' && c <= '9':
		return l.number()
	case c == 't':
		return true, l.literal("true")
	case c == 'f':
		return false, l.literal("false")
	case c == 'n':
		return nil, l.literal("null")
	}
	return nil, l.unexpected("the beginning of a value")
}

func (l *lexer) literal(word string) error {
	if !bytes.HasPrefix(l.data[l.pos:], []byte(word)) {
		return fmt.Errorf("invalid literal at offset %d (want %s)", l.pos, word)
	}
	l.pos += len(word)
	return nil
}

// number reads a JSON number (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?) as written.
func (l *lexer) number() (json.Number, error) {
	start := l.pos
	digits := func() int {
		n := 0
		for !l.end() && l.data[l.pos] >= '0' && l.data[l.pos] <= '9' {
			l.pos++
			n++
		}
		return n
	}
	if l.data[l.pos] == '-' {
		l.pos++
	}
	switch {
	case !l.end() && l.data[l.pos] == '0':
		l.pos++
	case digits() == 0:
		return "", l.unexpected("a digit")
	}
	if !l.end() && l.data[l.pos] == '.' {
		l.pos++
		if digits() == 0 {
			return "", l.unexpected("a digit after the decimal point")
		}
	}
	if !l.end() && (l.data[l.pos] == 'e' || l.data[l.pos] == 'E') {
		l.pos++
		if !l.end() && (l.data[l.pos] == '+' || l.data[l.pos] == '-') {
			l.pos++
		}
		if digits() == 0 {
			return "", l.unexpected("a digit in the exponent")
		}
	}
	return json.Number(l.data[start:l.pos]), nil
}

// plain marks the bytes a JSON string holds as they are: printable ASCII but the quote and
// the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a string. One of plain bytes only (digits, keys, times) is copied as it is;
// any other (escapes, UTF-8, control characters) is left to encoding/json, which unescapes
// it, replaces invalid UTF-8 and refuses what JSON does not allow.
func (l *lexer) str() (string, error) {
	if err := l.expect('"'); err != nil {
		return "", err
	}
	start := l.pos
	i := digitsPrefix(l.data, start)
	for i < len(l.data) && plain[l.data[i]] {
		i++
	}
	if i < len(l.data) && l.data[i] == '"' {
		l.pos = i + 1
		return string(l.data[start:i]), nil
	}
	for ; i < len(l.data); i++ {
		switch l.data[i] {
		case '\\':
			i++ // the escaped byte is never the end
		case '"':
			var s string
			if err := json.Unmarshal(l.data[start-1:i+1], &s); err != nil {
				return "", err
			}
			l.pos = i + 1
			return s, nil
		}
	}
	return "", io.ErrUnexpectedEOF
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
