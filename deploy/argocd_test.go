package deploy

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

// application is the part of Argo CD's Application (argoproj.io/v1alpha1) the example
// uses, for a strict decoding (Argo CD's Go module is far too large to import for one type).
type application struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name       string   `json:"name"`
		Namespace  string   `json:"namespace"`
		Finalizers []string `json:"finalizers"`
	} `json:"metadata"`
	Spec struct {
		Project string `json:"project"`
		Source  struct {
			RepoURL        string `json:"repoURL"`
			TargetRevision string `json:"targetRevision"`
			Path           string `json:"path"`
			Helm           struct {
				ReleaseName  string         `json:"releaseName"`
				ValueFiles   []string       `json:"valueFiles"`
				ValuesObject map[string]any `json:"valuesObject"`
			} `json:"helm"`
		} `json:"source"`
		Destination struct {
			Server    string `json:"server"`
			Namespace string `json:"namespace"`
		} `json:"destination"`
		SyncPolicy struct {
			Automated *struct {
				Prune    bool `json:"prune"`
				SelfHeal bool `json:"selfHeal"`
			} `json:"automated"`
			SyncOptions []string `json:"syncOptions"`
			Retry       struct {
				Limit   int `json:"limit"`
				Backoff struct {
					Duration    string `json:"duration"`
					Factor      int    `json:"factor"`
					MaxDuration string `json:"maxDuration"`
				} `json:"backoff"`
			} `json:"retry"`
		} `json:"syncPolicy"`
	} `json:"spec"`
}

const argocdApp = "argocd/factorial.yaml"

// readApplication decodes the Argo CD example strictly and checks that it points at the chart.
func readApplication(t *testing.T) application {
	t.Helper()
	raw, err := os.ReadFile(argocdApp)
	if err != nil {
		t.Fatal(err)
	}
	var app application
	if err := yaml.UnmarshalStrict(raw, &app); err != nil {
		t.Fatalf("%s: %v", argocdApp, err)
	}
	if app.APIVersion != "argoproj.io/v1alpha1" || app.Kind != "Application" {
		t.Errorf("%s is a %s %s, want an argoproj.io/v1alpha1 Application", argocdApp, app.APIVersion, app.Kind)
	}
	src := app.Spec.Source
	if src.Path != filepath.ToSlash(filepath.Join("deploy", chartDir)) {
		t.Errorf("%s: source.path %q is not the chart, deploy/%s", argocdApp, src.Path, chartDir)
	}
	if src.RepoURL == "" || src.TargetRevision == "" || app.Spec.Destination.Namespace == "" || app.Spec.Destination.Server == "" {
		t.Errorf("%s: repoURL, targetRevision and a destination are required", argocdApp)
	}
	for _, f := range src.Helm.ValueFiles {
		if _, err := os.Stat(filepath.Join(chartDir, f)); err != nil {
			t.Errorf("%s: value file %s: %v", argocdApp, f, err)
		}
	}
	return app
}

// argocdValues writes the Application's valuesObject to a file, for rendering the chart.
func argocdValues(t *testing.T) string {
	t.Helper()
	app := readApplication(t)
	raw, err := yaml.Marshal(app.Spec.Source.Helm.ValuesObject)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "argocd-values.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestArgoCDApplication(t *testing.T) { readApplication(t) }
