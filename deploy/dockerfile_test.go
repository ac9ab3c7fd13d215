package deploy

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/mod/modfile"
)

// dockerfile is the repository's Dockerfile, parsed by BuildKit's own parser.
type dockerfile struct {
	stages []instructions.Stage
	byName map[string]*instructions.Stage
}

func parseDockerfile(t *testing.T, path string) *dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	d := &dockerfile{stages: stages, byName: map[string]*instructions.Stage{}}
	for i := range d.stages {
		d.byName[d.stages[i].Name] = &d.stages[i]
	}
	return d
}

// chain is the stage and the stages it is built on, nearest first, ending at an image.
func (d *dockerfile) chain(name string) []*instructions.Stage {
	var out []*instructions.Stage
	for s := d.byName[name]; s != nil && len(out) <= len(d.stages); s = d.byName[s.BaseName] {
		out = append(out, s)
	}
	return out
}

// user is the USER the image of stage name runs as (its own, else inherited), "" if none.
func (d *dockerfile) user(name string) string {
	for _, s := range d.chain(name) {
		for i := len(s.Commands) - 1; i >= 0; i-- {
			if u, ok := s.Commands[i].(*instructions.UserCommand); ok {
				return u.User
			}
		}
	}
	return ""
}

// nonRootUser reports whether a USER value is a numeric uid other than 0 (Kubernetes can
// only check runAsNonRoot against a number).
func nonRootUser(user string) bool {
	uid, _, _ := strings.Cut(user, ":")
	n, err := strconv.Atoi(uid)
	return err == nil && n > 0
}

// TestDockerfile checks the Dockerfile: multi-stage, every base image pinned, one final
// stage per program that runs it as a numeric non-root user from a static binary, its own
// health check, and the go.mod of every module a program is built from copied before the
// download layer.
func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	d := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	if len(d.stages) < 2 {
		t.Fatalf("%d stage: want a multi-stage build (compile, then a minimal image)", len(d.stages))
	}
	for _, s := range d.stages {
		if _, isStage := d.byName[s.BaseName]; isStage || s.BaseName == "scratch" {
			continue
		}
		if why := pinned(s.BaseName); why != "" {
			t.Errorf("stage %s: FROM %s has %s", s.Name, s.BaseName, why)
		}
	}
	if last := d.stages[len(d.stages)-1].Name; last != "api" {
		t.Errorf("the last stage (built without --target) is %s, want api", last)
	}

	copied := map[string]bool{} // files COPY'd from the context before the first RUN go mod download
	downloaded := false
	for _, s := range d.stages {
		for _, c := range s.Commands {
			switch c := c.(type) {
			case *instructions.CopyCommand:
				if c.From == "" && !downloaded {
					for _, src := range c.SourcePaths {
						copied[src] = true
					}
				}
			case *instructions.RunCommand:
				if strings.Contains(strings.Join(c.CmdLine, " "), "go mod download") {
					downloaded = true
				}
			}
		}
	}
	if !downloaded {
		t.Error("no RUN go mod download layer")
	}

	for target, dir := range programs {
		t.Run(target, func(t *testing.T) {
			chain := d.chain(target)
			if len(chain) == 0 {
				t.Fatalf("no stage %s", target)
			}
			if base := chain[len(chain)-1].BaseName; base != "scratch" && !strings.Contains(base, "distroless") {
				t.Errorf("the %s image is built on %s, want scratch or distroless (no shell, no package manager)", target, base)
			}
			if u := d.user(target); !nonRootUser(u) {
				t.Errorf("the %s image runs as USER %q, want a numeric non-root uid", target, u)
			}
			var entry []string
			var health *instructions.HealthCheckCommand
			for _, s := range chain {
				for _, c := range s.Commands {
					switch c := c.(type) {
					case *instructions.EntrypointCommand:
						if entry == nil {
							entry = c.CmdLine
						}
					case *instructions.HealthCheckCommand:
						if health == nil {
							health = c
						}
					}
				}
			}
			if !slices.Equal(entry, []string{"/app"}) {
				t.Errorf("the %s image's ENTRYPOINT is %v, want [/app]", target, entry)
			}
			if target != "migrate" && (health == nil || !slices.Equal(health.Health.Test, []string{"CMD", "/app", "healthcheck"})) {
				t.Errorf("the %s image has no HEALTHCHECK CMD /app healthcheck", target)
			}

			// The program is built in its module, statically, by a stage the final one copies from.
			builder := ""
			for _, c := range chain[0].Commands {
				if cp, ok := c.(*instructions.CopyCommand); ok && slices.Contains(cp.SourcePaths, "/out/app") {
					builder = cp.From
				}
			}
			var run string
			for _, s := range d.chain(builder) {
				for _, c := range s.Commands {
					switch c := c.(type) {
					case *instructions.RunCommand:
						if line := strings.Join(c.CmdLine, " "); strings.Contains(line, "go build") && run == "" {
							run = line
						}
					case *instructions.EnvCommand:
						for _, kv := range c.Env {
							if kv.Key == "CGO_ENABLED" && kv.Value != "0" {
								t.Errorf("stage %s sets CGO_ENABLED=%s: the scratch image needs a static binary", s.Name, kv.Value)
							}
						}
					}
				}
			}
			module := moduleOf(t, root, dir)
			rel, _ := filepath.Rel(module, filepath.Join(root, dir))
			modRel, _ := filepath.Rel(root, module)
			if want := regexp.MustCompile(`cd ` + regexp.QuoteMeta(modRel) + ` && go build .* -o /out/app \./` + regexp.QuoteMeta(rel) + `\b`); !want.MatchString(run) {
				t.Errorf("stage %q builds %q, want `cd %s && go build … -o /out/app ./%s`", builder, run, modRel, rel)
			}

			// Every module of the build (the program's, and the siblings its go.mod replaces)
			// has its go.mod (and go.sum) copied before the download.
			for _, m := range localModules(t, module) {
				r, _ := filepath.Rel(root, m)
				for _, f := range []string{"go.mod", "go.sum"} {
					if _, err := os.Stat(filepath.Join(m, f)); err != nil {
						continue
					}
					if !copied[filepath.ToSlash(filepath.Join(r, f))] {
						t.Errorf("%s/%s is not copied before go mod download", r, f)
					}
				}
			}
		})
	}
}

// moduleOf returns the directory of the module holding dir.
func moduleOf(t *testing.T, root, dir string) string {
	t.Helper()
	for d := filepath.Join(root, dir); d != root; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	t.Fatalf("no module holds %s", dir)
	return ""
}

// localModules returns module and every module it reaches through replace directives with
// a local path.
func localModules(t *testing.T, module string) []string {
	t.Helper()
	seen := map[string]bool{}
	var walk func(string)
	walk = func(m string) {
		if seen[m] {
			return
		}
		seen[m] = true
		raw, err := os.ReadFile(filepath.Join(m, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		mf, err := modfile.Parse(filepath.Join(m, "go.mod"), raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range mf.Replace {
			if modfile.IsDirectoryPath(r.New.Path) {
				walk(filepath.Join(m, r.New.Path))
			}
		}
	}
	walk(module)
	return sortedKeys(seen)
}

// TestDockerignore checks that the build context holds the sources of every module the
// images are built from, and leaves out the rest (.git, bin/, data/, the test-only modules).
func TestDockerignore(t *testing.T) {
	root := repoRoot(t)
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	excluded := func(rel string) bool {
		ok, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	needed := map[string]bool{}
	for _, dir := range programs {
		for _, m := range localModules(t, moduleOf(t, root, dir)) {
			needed[m] = true
		}
	}
	for m := range needed {
		// Every file but tests: sources, and what they embed (SQL, OpenAPI, schemas, the page).
		err := filepath.WalkDir(m, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); (err == nil && path != m) || e.Name() == "testdata" {
					return fs.SkipDir // a module of its own, or test data
				}
				return nil
			}
			if strings.HasSuffix(e.Name(), "_test.go") {
				return nil
			}
			if rel, _ := filepath.Rel(root, path); excluded(rel) {
				t.Errorf(".dockerignore leaves out %s, which the images are built from", rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, rel := range []string{".git", "bin/versitygw", "data/factorial.db", "deploy/go.mod", "integration/go.mod", "compose/compose.yaml", "services/api/api_test.go"} {
		if !excluded(rel) {
			t.Errorf(".dockerignore sends %s to the build", rel)
		}
	}
}
