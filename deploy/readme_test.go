package deploy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestREADMEConfiguration holds the README's Configuration table to what the programs read:
// every setting of api, calculator, migrate and standalone is listed, every name listed is
// read by one of them, and each envDefault of a listed setting is among the defaults its row
// gives (in backquotes), so an operator reading the table gets the defaults the code has.
func TestREADMEConfiguration(t *testing.T) {
	ws := loadWorkspace(t)
	raw, err := os.ReadFile(filepath.Join(ws.root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := configurationRows(t, string(raw))

	settings, known := map[string]bool{}, map[string]bool{}
	for _, dir := range programs {
		r := ws.readsOf(t, dir)
		for _, v := range r.Settings {
			settings[v], known[v] = true, true
		}
		for _, v := range r.Optional {
			known[v] = true
		}
	}
	listed := map[string]string{} // name → the default cell of its row
	for _, row := range rows {
		for _, name := range row.names {
			listed[name] = row.defaults
			if !known[name] {
				t.Errorf("README's Configuration lists %s, which no program reads", name)
			}
		}
	}
	for _, name := range sortedKeys(settings) {
		if _, ok := listed[name]; !ok {
			t.Errorf("%s is read by a program but not listed in README's Configuration", name)
		}
	}
	defaults := envDefaults(t, ws.root)
	for name := range defaults {
		cell, ok := listed[name]
		if !ok || !settings[name] {
			continue
		}
		for _, d := range sortedKeys(defaults[name]) {
			if !strings.Contains(cell, "`"+d+"`") {
				t.Errorf("%s defaults to %q in the code; README's Configuration says %q", name, d, cell)
			}
		}
	}
	if len(rows) < 30 || len(defaults) < 30 {
		t.Fatalf("found %d rows in README's Configuration and %d defaults in the code: the parsing is off", len(rows), len(defaults))
	}
}

type configRow struct {
	names    []string // the variables of its first cell
	defaults string   // its last cell
}

var varName = regexp.MustCompile("`([A-Z][A-Z0-9_]*)`")

// configurationRows reads the table of README's "## Configuration" section.
func configurationRows(t *testing.T, readme string) []configRow {
	t.Helper()
	_, section, ok := strings.Cut(readme, "\n## Configuration\n")
	if !ok {
		t.Fatal(`README.md has no "## Configuration" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var rows []configRow
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) < 3 {
			t.Fatalf("README's Configuration row %q has %d cells, want 3", line, len(cells))
		}
		row := configRow{defaults: cells[len(cells)-1]}
		// The first cell's names, before any parenthesis (what follows is a remark).
		first, _, _ := strings.Cut(cells[0], "(")
		for _, m := range varName.FindAllStringSubmatch(first, -1) {
			row.names = append(row.names, m[1])
		}
		rows = append(rows, row)
	}
	return rows
}

// envDefaults finds every envDefault of an env tag in the workspace's Go sources (tests
// aside): variable name → its defaults (HTTP_ADDR has one per program).
func envDefaults(t *testing.T, root string) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "bin" || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			field, ok := n.(*ast.Field)
			if !ok || field.Tag == nil {
				return true
			}
			s, _ := strconv.Unquote(field.Tag.Value)
			tag := reflect.StructTag(s)
			name, ok := tag.Lookup("env")
			def, hasDefault := tag.Lookup("envDefault")
			if name, _, _ = strings.Cut(name, ","); !ok || !hasDefault || name == "" {
				return true
			}
			if out[name] == nil {
				out[name] = map[string]bool{}
			}
			out[name][def] = true
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(sortedKeys(out["HTTP_ADDR"]), ":8081") {
		t.Fatalf("the calculator's HTTP_ADDR default not found: %v", out["HTTP_ADDR"])
	}
	return out
}
