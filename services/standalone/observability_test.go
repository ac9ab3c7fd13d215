package standalone_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/factorial-service/factorial/platform/testenv"
)

// The dashboard and the alert rules live in the repository's observability/ folder.
var (
	dashboardFile = filepath.Join("..", "..", "observability", "grafana", "factorial.json")
	rulesDir      = filepath.Join("..", "..", "observability", "prometheus")
)

// metricName finds the names of this service's metrics (and of the Go and process
// collectors) in PromQL text.
var metricName = regexp.MustCompile(`\b(?:factorial|process|go)_[a-z0-9_]+\b`)

// dashboardPanel is what the test reads of a Grafana panel.
type dashboardPanel struct {
	ID         int              `json:"id"`
	Type       string           `json:"type"`
	Title      string           `json:"title"`
	Datasource *json.RawMessage `json:"datasource"`
	Targets    []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"`
}

// readDashboard parses the dashboard, checks its panels and returns their PromQL
// expressions.
func readDashboard(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID        string           `json:"uid"`
		Title      string           `json:"title"`
		Panels     []dashboardPanel `json:"panels"`
		Templating struct {
			List []struct{ Name, Type string } `json:"list"`
		} `json:"templating"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&dash); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	if dash.UID == "" || dash.Title == "" || len(dash.Panels) == 0 {
		t.Fatalf("%s: uid %q, title %q, %d panels: want all three", dashboardFile, dash.UID, dash.Title, len(dash.Panels))
	}
	if !slices.ContainsFunc(dash.Templating.List, func(v struct{ Name, Type string }) bool {
		return v.Name == "datasource" && v.Type == "datasource"
	}) {
		t.Errorf("%s: no datasource variable; panels must not name one Prometheus of one installation", dashboardFile)
	}
	var exprs []string
	ids := map[int]string{}
	var walk func([]dashboardPanel)
	walk = func(panels []dashboardPanel) {
		for _, p := range panels {
			if other, dup := ids[p.ID]; dup {
				t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
			}
			ids[p.ID] = p.Title
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			if p.Datasource == nil || !strings.Contains(string(*p.Datasource), "${datasource}") {
				t.Errorf("panel %q does not use the datasource variable", p.Title)
			}
			for _, target := range p.Targets {
				if strings.TrimSpace(target.Expr) == "" {
					t.Errorf("panel %q: query %s is empty", p.Title, target.RefID)
				}
				exprs = append(exprs, target.Expr)
			}
		}
	}
	walk(dash.Panels)
	return exprs
}

// exported scrapes /metrics and returns every sample name in it (histograms give
// name_bucket, name_sum and name_count, as PromQL sees them).
func exported(t *testing.T, s *service) map[string]bool {
	t.Helper()
	r := s.get("/metrics")
	if r.status != http.StatusOK {
		t.Fatalf("GET /metrics: %d", r.status)
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// Every metric the dashboard and the alert rules use is one the services export, so that
// renaming a metric (or dropping it) fails here instead of leaving a blank panel or an alert
// that can never fire. A metric must exist from the start (a labelled series initialised at
// 0): an alert on a series that does not exist yet never fires.
func TestDashboardAndAlertsUseExportedMetrics(t *testing.T) {
	exprs := readDashboard(t)
	rules, err := os.ReadFile(filepath.Join(rulesDir, "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	s := start(t, testConfig(t, t.TempDir()), nil)
	if r := s.post(20); r.status != http.StatusAccepted && r.status != http.StatusOK {
		t.Fatalf("POST 20: %d %s", r.status, r.body)
	}
	s.waitDone(20)
	have := exported(t, s)

	used := map[string][]string{} // metric → where
	for _, e := range exprs {
		for _, name := range metricName.FindAllString(e, -1) {
			used[name] = append(used[name], "dashboard")
		}
	}
	for _, name := range metricName.FindAllString(string(rules), -1) {
		used[name] = append(used[name], "alerts.yaml")
	}
	if len(used) == 0 {
		t.Fatal("found no metric names in the dashboard and the rules")
	}
	for name, where := range used {
		if !have[name] {
			t.Errorf("%s (used by %s) is not exported by the services", name, strings.Join(slices.Compact(where), ", "))
		}
	}
}

// promtool validates the rules, the example configuration and every dashboard query, and
// runs the rules' unit tests.
func TestAlertRulesWithPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if testenv.Required() {
			t.Fatalf("promtool not found and %s=1: apt-get install prometheus", testenv.Require)
		}
		t.Skip("SKIP: promtool not found (apt-get install prometheus) to check observability/prometheus")
	}
	run := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run(rulesDir, "check", "rules", "alerts.yaml")
	run(rulesDir, "check", "config", "prometheus.yml")
	run(rulesDir, "test", "rules", "alerts_test.yaml")

	// The dashboard's queries, as recording rules, so promtool parses each one.
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range readDashboard(t) {
		e = strings.ReplaceAll(e, "$__rate_interval", "5m")
		quoted, _ := json.Marshal(e) // a JSON string is a YAML string
		b.WriteString("      - record: dashboard:query_" + string(rune('a'+i%26)) + "\n        expr: " + string(quoted) + "\n")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard.yaml"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	run(dir, "check", "rules", "dashboard.yaml")
}
