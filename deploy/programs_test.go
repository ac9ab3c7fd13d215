package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestProgramsAcceptComposeEnvironment runs api, calculator and migrate with exactly the
// environment each compose variant gives them: every value must pass the program's own
// configuration checks (a setting it rejects prints a `config:` line and exits). The
// servers the stack names do not resolve here, so the programs stop at their first
// connection, after the configuration is read.
func TestProgramsAcceptComposeEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the programs")
	}
	root := repoRoot(t)
	bin := t.TempDir()
	names := []string{"api", "calculator", "migrate"}
	args := []string{"build", "-o", bin + string(filepath.Separator)}
	for _, name := range names {
		args = append(args, "./"+programs[name])
	}
	build := exec.Command("go", args...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, files := range [][]string{composeDev, composeProd} {
		p := loadCompose(t, files)
		for _, name := range names {
			s := p.Services[name]
			t.Run(strings.Join(files, "+")+"/"+name, func(t *testing.T) {
				t.Parallel()
				env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
				for k, v := range s.Environment {
					if v != nil {
						env = append(env, k+"="+*v)
					}
				}
				ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, filepath.Join(bin, s.Build.Target), s.Command...)
				cmd.Env = env
				out, _ := cmd.CombinedOutput()
				for _, line := range strings.Split(string(out), "\n") {
					if strings.Contains(line, "config:") || strings.Contains(line, "usage:") {
						t.Errorf("%s rejects its compose environment: %s", name, line)
					}
				}
				if slices.Contains(env, "") {
					t.Error("empty environment entry")
				}
			})
		}
	}
}
