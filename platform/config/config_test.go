package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/factorial-service/factorial/platform/config"
)

type inner struct {
	Dir string `env:"SOME_DIR" envDefault:"./data"`
}

type sample struct {
	Addr   string        `env:"HTTP_ADDR" envDefault:":8080"`
	Max    int64         `env:"MAX_NUMBER" envDefault:"100000"`
	Wait   time.Duration `env:"WAIT" envDefault:"5s"`
	URL    string        `env:"NATS_URL,required"`
	Nested inner
	//lint:ignore U1000 an unexported field, which Load and its error messages must pass over
	invalid bool
}

func (s *sample) Validate() error {
	if s.Max < 0 {
		return errors.New("MAX_NUMBER must be 0 or more")
	}
	return nil
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		wantErr string
	}{
		{name: "defaults apply", environ: []string{"NATS_URL=nats://x"}},
		{name: "missing required names the variable", environ: nil, wantErr: "NATS_URL is required but not set"},
		{name: "bad integer names the variable", environ: []string{"NATS_URL=x", "MAX_NUMBER=lots"}, wantErr: `MAX_NUMBER is not a valid integer`},
		{name: "bad duration names the variable", environ: []string{"NATS_URL=x", "WAIT=soon"}, wantErr: "WAIT is not a valid duration"},
		{name: "validate runs", environ: []string{"NATS_URL=x", "MAX_NUMBER=-5"}, wantErr: "MAX_NUMBER must be 0 or more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg sample
			err := config.Load(tt.environ, &cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.Addr != ":8080" || cfg.Max != 100000 || cfg.Wait != 5*time.Second || cfg.Nested.Dir != "./data" {
					t.Fatalf("defaults not applied: %+v", cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error must be one line: %q", err)
			}
		})
	}
}

func TestIsSet(t *testing.T) {
	environ := []string{"PATH=/bin", "GOGC=", "GOMAXPROCS_X=2", "X_GOMAXPROCS=2"}
	for name, want := range map[string]bool{"GOGC": true, "PATH": true, "GOMAXPROCS": false, "GOMEMLIMIT": false} {
		if got := config.IsSet(environ, name); got != want {
			t.Errorf("IsSet(%q) = %v, want %v", name, got, want)
		}
	}
}
