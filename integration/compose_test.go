package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// There is no Docker engine here, so the compose stack is checked statically: every service
// the brief names is there, each image is built from a main package of this repository,
// the services wait for the one-shot migrate job, and two calculators run.
func TestComposeStack(t *testing.T) {
	root := repoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, "compose", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Build *struct {
				Context    string            `yaml:"context"`
				Dockerfile string            `yaml:"dockerfile"`
				Args       map[string]string `yaml:"args"`
			} `yaml:"build"`
			DependsOn map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
			Environment map[string]string `yaml:"environment"`
			Deploy      struct {
				Replicas int `yaml:"replicas"`
			} `yaml:"deploy"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for _, name := range []string{"nats", "postgres", "redis", "minio", "migrate", "api", "calculator"} {
		if _, ok := doc.Services[name]; !ok {
			t.Errorf("compose.yaml has no %s service", name)
		}
	}
	for name, svc := range doc.Services {
		if svc.Build == nil {
			continue
		}
		cmd := svc.Build.Args["CMD"]
		main, err := os.ReadFile(filepath.Join(root, cmd, "main.go"))
		if err != nil || !strings.Contains(string(main), "package main") {
			t.Errorf("%s builds CMD=%q, which is not a main package: %v", name, cmd, err)
		}
		if _, err := os.Stat(filepath.Join(root, "compose", svc.Build.Context, svc.Build.Dockerfile)); err != nil {
			t.Errorf("%s: Dockerfile: %v", name, err)
		}
		if name == "migrate" {
			continue
		}
		if svc.DependsOn["migrate"].Condition != "service_completed_successfully" {
			t.Errorf("%s does not wait for migrate to complete", name)
		}
		for _, v := range []string{"NATS_URL", "DATABASE_URL", "STORAGE", "S3_BUCKET"} {
			if svc.Environment[v] == "" {
				t.Errorf("%s lacks %s", name, v)
			}
		}
	}
	if r := doc.Services["calculator"].Deploy.Replicas; r != 2 {
		t.Errorf("calculator replicas %d, want 2", r)
	}

	dockerfile, err := os.ReadFile(filepath.Join(root, "compose", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	// Every module's go.mod is copied before the download layer.
	for _, m := range []string{"api-spec", "events", "platform", "migrations", "services/api", "services/calculator", "services/standalone", "integration"} {
		if !strings.Contains(string(dockerfile), "COPY "+m+"/go.mod") {
			t.Errorf("Dockerfile does not copy %s/go.mod", m)
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "USER nonroot"} {
		if !strings.Contains(string(dockerfile), want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	work, _ := os.ReadFile(filepath.Join(root, "go.work"))
	var uses []string
	for _, line := range strings.Split(string(work), "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "./") {
			uses = append(uses, strings.TrimPrefix(l, "./"))
		}
	}
	for _, u := range uses {
		if !strings.Contains(string(dockerfile), "COPY "+u+"/go.mod") {
			t.Errorf("go.work uses %s, which the Dockerfile does not copy first", u)
		}
	}
}
