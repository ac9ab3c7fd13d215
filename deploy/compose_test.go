package deploy

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/google/go-cmp/cmp"
)

// Compose files: the development stack, and the production-shaped variant on top of it.
var (
	composeDev  = []string{"compose.yaml"}
	composeProd = []string{"compose.yaml", "compose.prod.yaml"}
)

// loadCompose loads files from compose/ as `docker compose -f … --profile '*'` would, with
// no environment but envFiles: a developer's shell or compose/.env cannot change the result.
func loadCompose(t *testing.T, files []string, envFiles ...string) *types.Project {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "compose")
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(dir, f))
	}
	opts, err := cli.NewProjectOptions(paths,
		cli.WithWorkingDirectory(dir),
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithProfiles([]string{"*"}),
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(envFiles) == 0 {
		opts.EnvFiles = nil // no implicit compose/.env
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load %v: %v", files, err)
	}
	return p
}

// oneShots are the services another waits on to complete (migrate, bucket): they exit, and
// have no health check.
func oneShots(p *types.Project) map[string]bool {
	out := map[string]bool{}
	for _, s := range p.Services {
		for dep, d := range s.DependsOn {
			if d.Condition == types.ServiceConditionCompletedSuccessfully {
				out[dep] = true
			}
		}
	}
	return out
}

// TestComposeStack checks both variants of the stack: images that exist and are pinned,
// health checks, start order, and every setting the programs read.
func TestComposeStack(t *testing.T) {
	ws := loadWorkspace(t)
	reads := map[string]programVars{}
	for name, dir := range programs {
		reads[name] = ws.readsOf(t, dir)
	}
	for _, files := range [][]string{composeDev, composeProd} {
		t.Run(strings.Join(files, "+"), func(t *testing.T) {
			p := loadCompose(t, files)
			checkComposeImages(t, p)
			checkComposeHealth(t, p)
			checkComposeSettings(t, p, reads)
		})
	}
}

// imageTag matches a tag that names a release: at least major.minor, like 2.15.2-alpine,
// 17.5-alpine or v1.8.0.
var imageTag = regexp.MustCompile(`^v?\d+\.\d+`)

// goneRepositories are image repositories removed from their registry: a stack naming one
// cannot start.
var goneRepositories = []string{
	"minio/minio", "minio/mc", // removed from Docker Hub in September 2026
	"bitnami/", // the free Bitnami catalogue, moved to bitnamilegacy/ in 2025
}

// pinned says why image is not pinned to one release, or "" when it is.
func pinned(image string) string {
	name, digest, hasDigest := strings.Cut(image, "@")
	if hasDigest {
		if !strings.HasPrefix(digest, "sha256:") || len(digest) != len("sha256:")+64 {
			return "a malformed digest"
		}
		return ""
	}
	i := strings.LastIndex(name, ":")
	if i < 0 || strings.Contains(name[i:], "/") {
		return "no tag (latest)"
	}
	if tag := name[i+1:]; !imageTag.MatchString(tag) {
		return fmt.Sprintf("the floating tag %q", tag)
	}
	return ""
}

func TestPinned(t *testing.T) {
	for image, want := range map[string]bool{
		"nats:2.15.2-alpine":                         true,
		"versity/versitygw:v1.8.0":                   true,
		"registry:5000/app:1.2":                      true,
		"postgres@sha256:" + strings.Repeat("a", 64): true,
		"postgres":           false,
		"registry:5000/app":  false,
		"minio/minio:latest": false,
		"redis:7-alpine":     false,
		"nats:alpine":        false,
		"golang:1.26":        true,
	} {
		if got := pinned(image) == ""; got != want {
			t.Errorf("pinned(%q) = %q, want pinned %v", image, pinned(image), want)
		}
	}
}

func checkComposeImages(t *testing.T, p *types.Project) {
	t.Helper()
	for name, s := range p.Services {
		if s.Build != nil {
			if s.Build.Dockerfile != "Dockerfile" || filepath.Clean(s.Build.Context) != repoRoot(t) {
				t.Errorf("%s: builds %s in %s, want the repository's Dockerfile in its root", name, s.Build.Dockerfile, s.Build.Context)
			}
			if _, ok := programs[s.Build.Target]; !ok {
				t.Errorf("%s: builds target %q, which is none of the programs", name, s.Build.Target)
			}
			if s.Image == "" {
				continue
			}
		}
		if s.Image == "" {
			t.Errorf("%s: neither an image nor a build", name)
			continue
		}
		if why := pinned(s.Image); why != "" {
			t.Errorf("%s: image %s has %s; pin a version (and a digest where you can)", name, s.Image, why)
		}
		for _, gone := range goneRepositories {
			repo := strings.TrimPrefix(s.Image, "docker.io/")
			if strings.HasPrefix(repo, gone) {
				t.Errorf("%s: image %s is from %s, which is no longer published", name, s.Image, gone)
			}
		}
		if strings.HasPrefix(s.Image, "nats:") && !regexp.MustCompile(`^nats:2\.(1[2-9]|[2-9]\d)\.`).MatchString(s.Image) {
			t.Errorf("%s: %s is older than NATS 2.12", name, s.Image)
		}
	}
}

func checkComposeHealth(t *testing.T, p *types.Project) {
	t.Helper()
	jobs := oneShots(p)
	for name, s := range p.Services {
		hc := s.HealthCheck
		switch {
		case jobs[name]:
			if s.Build == nil && s.Image == "" {
				t.Errorf("%s: one-shot job without an image", name)
			}
		case hc == nil || hc.Disable || len(hc.Test) == 0 || hc.Test[0] == "NONE":
			t.Errorf("%s: no health check", name)
		case s.Build != nil && !slices.Equal(hc.Test, types.HealthCheckTest{"CMD", "/app", "healthcheck"}):
			t.Errorf("%s: health check %v, want its own binary's: CMD /app healthcheck", name, hc.Test)
		}
		for dep, d := range s.DependsOn {
			target, ok := p.Services[dep]
			if !ok {
				t.Errorf("%s depends on %s, which is not a service", name, dep)
				continue
			}
			switch d.Condition {
			case types.ServiceConditionHealthy:
				if target.HealthCheck == nil || len(target.HealthCheck.Test) == 0 {
					t.Errorf("%s waits for %s to be healthy, which has no health check", name, dep)
				}
			case types.ServiceConditionCompletedSuccessfully:
			default:
				t.Errorf("%s depends on %s with condition %q: wait for service_healthy or service_completed_successfully", name, dep, d.Condition)
			}
		}
	}
	for _, name := range []string{"api", "calculator"} {
		s := p.Services[name]
		for dep, cond := range map[string]string{
			"migrate": types.ServiceConditionCompletedSuccessfully,
			"bucket":  types.ServiceConditionCompletedSuccessfully,
			"nats":    types.ServiceConditionHealthy,
		} {
			if s.DependsOn[dep].Condition != cond {
				t.Errorf("%s does not wait for %s (%s)", name, dep, cond)
			}
		}
	}
}

// checkComposeSettings checks that each service built from a program sets every variable
// the program reads: a new setting in the code fails here until compose passes it.
func checkComposeSettings(t *testing.T, p *types.Project, reads map[string]programVars) {
	t.Helper()
	for name, s := range p.Services {
		if s.Build == nil {
			continue
		}
		for _, v := range reads[s.Build.Target].Settings {
			if _, ok := s.Environment[v]; !ok {
				t.Errorf("%s: %s reads %s, which the service's environment does not set (add it, empty for the default, and to .env.example)", name, s.Build.Target, v)
			}
		}
	}
	// download_url is presigned for S3_PUBLIC_ENDPOINT, which must be the s3 service as
	// published on the host.
	for _, name := range []string{"api", "calculator"} {
		env := p.Services[name].Environment
		pub := env["S3_PUBLIC_ENDPOINT"]
		if pub == nil {
			continue
		}
		u, err := url.Parse(*pub)
		if err != nil {
			t.Errorf("%s: S3_PUBLIC_ENDPOINT %q: %v", name, *pub, err)
			continue
		}
		published := false
		for _, port := range p.Services["s3"].Ports {
			published = published || port.Published == u.Port()
		}
		if u.Hostname() != "localhost" || !published {
			t.Errorf("%s: S3_PUBLIC_ENDPOINT %s is not the s3 service published on localhost", name, *pub)
		}
	}
}

// TestComposeProduction checks the production-shaped variant: a three-node NATS cluster
// with the stream at three replicas, two api and three calculator replicas, restart
// policies and resource limits.
func TestComposeProduction(t *testing.T) {
	p := loadCompose(t, composeProd)
	var nodes []string
	serverNames := map[string]string{}
	for name, s := range p.Services {
		if !strings.HasPrefix(s.Image, "nats:") {
			continue
		}
		nodes = append(nodes, name)
		args := strings.Join(s.Command, " ")
		for _, want := range []string{"--jetstream", "--cluster_name factorial", "--cluster nats://0.0.0.0:6222"} {
			if !strings.Contains(args, want) {
				t.Errorf("%s: command %q lacks %q", name, args, want)
			}
		}
		if i := slices.Index(s.Command, "--server_name"); i < 0 || i+1 == len(s.Command) {
			t.Errorf("%s: no --server_name", name)
		} else if other, dup := serverNames[s.Command[i+1]]; dup {
			t.Errorf("%s and %s are both named %s in the cluster", name, other, s.Command[i+1])
		} else {
			serverNames[s.Command[i+1]] = name
		}
	}
	slices.Sort(nodes)
	if !slices.Equal(nodes, []string{"nats", "nats-2", "nats-3"}) {
		t.Fatalf("NATS services %v, want nats, nats-2, nats-3", nodes)
	}
	for _, node := range nodes {
		args := strings.Join(p.Services[node].Command, " ")
		for _, peer := range nodes {
			if !strings.Contains(args, "nats://"+peer+":6222") {
				t.Errorf("%s does not route to %s", node, peer)
			}
		}
	}
	for name, want := range map[string]int{"api": 2, "calculator": 3} {
		s := p.Services[name]
		if got := s.GetScale(); got != want {
			t.Errorf("%s: %d replicas, want %d", name, got, want)
		}
		env := s.Environment
		if v := env["NATS_STREAM_REPLICAS"]; v == nil || *v != "3" {
			t.Errorf("%s: NATS_STREAM_REPLICAS is not 3", name)
		}
		for _, node := range nodes {
			if v := env["NATS_URL"]; v == nil || !strings.Contains(*v, "nats://"+node+":4222") {
				t.Errorf("%s: NATS_URL does not list %s", name, node)
			}
			if s.DependsOn[node].Condition != types.ServiceConditionHealthy {
				t.Errorf("%s does not wait for %s to be healthy", name, node)
			}
		}
	}
	jobs := oneShots(p)
	for name, s := range p.Services {
		want := []string{"always", "unless-stopped"}
		if jobs[name] {
			want = []string{"on-failure"}
		}
		if !slices.Contains(want, s.Restart) {
			t.Errorf("%s: restart %q, want one of %v", name, s.Restart, want)
		}
		if s.Deploy == nil || s.Deploy.Resources.Limits == nil || s.Deploy.Resources.Limits.MemoryBytes <= 0 || s.Deploy.Resources.Limits.NanoCPUs <= 0 {
			t.Errorf("%s: no CPU and memory limits", name)
		}
	}
}

// TestComposeEnvExample checks compose/.env.example: it names every variable the programs
// read, assigns every variable the compose files use, and its values are the defaults the
// compose files give, so copying it to .env changes nothing until a value is edited.
func TestComposeEnvExample(t *testing.T) {
	root := repoRoot(t)
	example := filepath.Join(root, "compose", ".env.example")
	raw, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	assigned := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf(".env.example: %q is not NAME=value", line)
		}
		assigned[name] = true
	}

	used := map[string]bool{}
	for _, f := range composeProd {
		raw, err := os.ReadFile(filepath.Join(root, "compose", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(string(raw), -1) {
			used[m[1]] = true
		}
	}
	for v := range used {
		if !assigned[v] {
			t.Errorf("compose uses ${%s}, which .env.example does not assign", v)
		}
	}
	for v := range assigned {
		if !used[v] {
			t.Errorf(".env.example assigns %s, which no compose file uses", v)
		}
	}

	ws := loadWorkspace(t)
	for name, dir := range programs {
		r := ws.readsOf(t, dir)
		for _, v := range append(r.Settings, r.Optional...) {
			if !regexp.MustCompile(`(?m)^#?\s*(.*[\s,])?` + v + `\b`).Match(raw) {
				t.Errorf("%s reads %s, which .env.example does not name", name, v)
			}
		}
	}

	for _, files := range [][]string{composeDev, composeProd} {
		without, with := loadCompose(t, files), loadCompose(t, files, example)
		for name, s := range without.Services {
			if diff := cmp.Diff(s.Environment, with.Services[name].Environment); diff != "" {
				t.Errorf("%v: %s's environment differs with .env.example (-without +with):\n%s", files, name, diff)
			}
			if diff := cmp.Diff(s.Command, with.Services[name].Command); diff != "" {
				t.Errorf("%v: %s's command differs with .env.example (-without +with):\n%s", files, name, diff)
			}
		}
	}
}
