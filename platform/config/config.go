// Package config reads a service's settings from environment variables.
//
// Each service declares a struct with `env:"NAME"` tags (caarlos0/env) and calls Load. Any
// missing or malformed setting comes back as one error line that names the variable and says
// what is expected, so a bad deployment stops at start with a message a person can act on.
package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/caarlos0/env/v11"
)

// Load fills cfg (a pointer to a struct) from environ, a list of KEY=value pairs as returned
// by os.Environ, and then calls cfg.Validate if cfg has one.
func Load(environ []string, cfg any) error {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	if err := env.ParseWithOptions(cfg, env.Options{Environment: vars}); err != nil {
		return describe(cfg, err)
	}
	if v, ok := cfg.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

// IsSet reports whether environ (KEY=value pairs, as os.Environ returns) sets name, even to
// nothing: for a runtime setting (GOGC, GOMAXPROCS) that the program leaves to the operator.
func IsSet(environ []string, name string) bool {
	return slices.ContainsFunc(environ, func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
}

// describe turns caarlos0/env's errors into one line that names variables, not Go fields.
func describe(cfg any, err error) error {
	var errs []error
	var agg env.AggregateError
	if errors.As(err, &agg) {
		errs = agg.Errors
	} else {
		errs = []error{err}
	}
	tags := envTags(reflect.TypeOf(cfg))
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		var parse env.ParseError
		var unset env.VarIsNotSetError
		var empty env.EmptyVarError
		switch {
		case errors.As(e, &parse):
			msgs = append(msgs, fmt.Sprintf("%s is not a valid %s: %v", tags[parse.Name], kind(parse.Type), unwrapAll(parse.Err)))
		case errors.As(e, &unset):
			msgs = append(msgs, fmt.Sprintf("%s is required but not set", unset.Key))
		case errors.As(e, &empty):
			msgs = append(msgs, fmt.Sprintf("%s must not be empty", empty.Key))
		default:
			msgs = append(msgs, e.Error())
		}
	}
	// A variable read by two parts of a program (MAX_NUMBER by the API and the calculator) is
	// reported once.
	slices.Sort(msgs)
	return fmt.Errorf("config: %s", strings.Join(slices.Compact(msgs), "; "))
}

func kind(t reflect.Type) string {
	switch t.String() {
	case "time.Duration":
		return "duration (like 30s or 5m)"
	case "bool":
		return "boolean (true or false)"
	case "int", "int64", "uint64":
		return "integer"
	}
	return t.String()
}

func unwrapAll(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// envTags maps Go field names to their variable names, through embedded and nested structs.
func envTags(t reflect.Type) map[string]string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tags := map[string]string{}
	if t.Kind() != reflect.Struct {
		return tags
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("env"), ","); tag != "" {
			tags[f.Name] = tag
		}
		if f.Type.Kind() == reflect.Struct {
			for k, v := range envTags(f.Type) {
				tags[k] = v
			}
		}
	}
	return tags
}
