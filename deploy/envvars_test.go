package deploy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
)

// programs are the binaries the deploy files run: Dockerfile target (and compose service)
// name to the directory of its main package.
var programs = map[string]string{
	"api":        "services/api/cmd/api",
	"calculator": "services/calculator/cmd/calculator",
	"migrate":    "migrations/cmd/migrate",
	"standalone": "services/standalone/cmd/standalone",
}

// programVars is what a program reads from its environment, found in its source.
type programVars struct {
	// Settings are the variables of its settings: every `env:"NAME"` tag reachable from the
	// struct its main passes to config.Load (through nested and embedded structs, with
	// envPrefix), and the literal names its main package reads with os.Getenv, os.LookupEnv
	// or a getenv function. A deployment sets each of them.
	Settings []string
	// Optional are the names its libraries read with os.Getenv or os.LookupEnv (SDK
	// overrides and the like): documented, not necessarily set.
	Optional []string
}

// workspace is the Go workspace of the repository: the module path of each module to its
// directory, and the parsed packages.
type workspace struct {
	root    string
	modules map[string]string // module path → directory
	fset    *token.FileSet
	pkgs    map[string]*goPackage // directory → package
}

type goPackage struct {
	dir   string
	files []*ast.File
}

func loadWorkspace(t *testing.T) *workspace {
	t.Helper()
	root := repoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	work, err := modfile.ParseWork("go.work", raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws := &workspace{root: root, modules: map[string]string{}, fset: token.NewFileSet(), pkgs: map[string]*goPackage{}}
	for _, use := range work.Use {
		dir := filepath.Join(root, use.Path)
		raw, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		ws.modules[modfile.ModulePath(raw)] = dir
	}
	return ws
}

// dirOf returns the directory of a package of the workspace, or "" for any other package.
func (ws *workspace) dirOf(importPath string) string {
	best := ""
	for mod := range ws.modules {
		if (importPath == mod || strings.HasPrefix(importPath, mod+"/")) && len(mod) > len(best) {
			best = mod
		}
	}
	if best == "" {
		return ""
	}
	return filepath.Join(ws.modules[best], strings.TrimPrefix(importPath, best))
}

// pkg parses the non-test Go files of the package in dir.
func (ws *workspace) pkg(t *testing.T, dir string) *goPackage {
	t.Helper()
	if p, ok := ws.pkgs[dir]; ok {
		return p
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := &goPackage{dir: dir}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(ws.fset, filepath.Join(dir, name), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		p.files = append(p.files, f)
	}
	ws.pkgs[dir] = p
	return p
}

// readsOf finds what the program whose main package is in dir reads from its environment.
func (ws *workspace) readsOf(t *testing.T, dir string) programVars {
	t.Helper()
	main := ws.pkg(t, filepath.Join(ws.root, dir))
	settings := map[string]bool{}
	for _, f := range main.files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if name, ok := getenvName(call, true); ok {
				settings[name] = true
			}
			if typ := configLoadType(f, call); typ != nil {
				ws.structVars(t, main, f, typ, "", settings, 0)
			}
			return true
		})
	}
	optional := map[string]bool{}
	seen := map[string]bool{}
	var walk func(p *goPackage)
	walk = func(p *goPackage) {
		if seen[p.dir] {
			return
		}
		seen[p.dir] = true
		for _, f := range p.files {
			if p != main {
				ast.Inspect(f, func(n ast.Node) bool {
					if call, ok := n.(*ast.CallExpr); ok {
						if name, ok := getenvName(call, false); ok && !settings[name] {
							optional[name] = true
						}
					}
					return true
				})
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if d := ws.dirOf(path); d != "" {
					walk(ws.pkg(t, d))
				}
			}
		}
	}
	walk(main)
	return programVars{Settings: sortedKeys(settings), Optional: sortedKeys(optional)}
}

// getenvName returns the variable name of os.Getenv("X") or os.LookupEnv("X") and, when
// anyGetenv, of a call to any function named getenv (a main's injected os.Getenv).
func getenvName(call *ast.CallExpr, anyGetenv bool) (string, bool) {
	if len(call.Args) != 1 {
		return "", false
	}
	lit, ok := call.Args[0].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	switch fun := call.Fun.(type) {
	case *ast.SelectorExpr:
		if x, ok := fun.X.(*ast.Ident); !ok || x.Name != "os" || (fun.Sel.Name != "Getenv" && fun.Sel.Name != "LookupEnv") {
			return "", false
		}
	case *ast.Ident:
		if !anyGetenv || fun.Name != "getenv" {
			return "", false
		}
	default:
		return "", false
	}
	name, err := strconv.Unquote(lit.Value)
	return name, err == nil
}

// configLoadType returns the type of cfg in a call config.Load(environ, &cfg) of file f
// (config being platform/config), found from cfg's `var cfg T` declaration.
func configLoadType(f *ast.File, call *ast.CallExpr) ast.Expr {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Load" || len(call.Args) != 2 {
		return nil
	}
	x, ok := sel.X.(*ast.Ident)
	if !ok || importPathOf(f, x.Name) != "github.com/factorial-service/factorial/platform/config" {
		return nil
	}
	ref, ok := call.Args[1].(*ast.UnaryExpr)
	if !ok || ref.Op != token.AND {
		return nil
	}
	id, ok := ref.X.(*ast.Ident)
	if !ok {
		return nil
	}
	var typ ast.Expr
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && vs.Type != nil {
			for _, name := range vs.Names {
				if name.Name == id.Name {
					typ = vs.Type
				}
			}
		}
		return typ == nil
	})
	return typ
}

// importPathOf returns the path of the package file f imports under name.
func importPathOf(f *ast.File, name string) string {
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		local := filepath.Base(path)
		if imp.Name != nil {
			local = imp.Name.Name
		}
		if local == name {
			return path
		}
	}
	return ""
}

// structVars adds the env tags of the struct type expr (written in file f of package p),
// as caarlos0/env reads them: a field with an env tag is one variable; a field without one
// whose type is a struct of the workspace is walked, with its envPrefix.
func (ws *workspace) structVars(t *testing.T, p *goPackage, f *ast.File, expr ast.Expr, prefix string, out map[string]bool, depth int) {
	t.Helper()
	if depth > 20 {
		t.Fatalf("settings types nest deeper than 20 levels at %s", ws.fset.Position(expr.Pos()))
	}
	switch e := expr.(type) {
	case *ast.StarExpr:
		ws.structVars(t, p, f, e.X, prefix, out, depth+1)
	case *ast.Ident:
		if spec, file := typeSpec(p, e.Name); spec != nil {
			ws.structVars(t, p, file, spec.Type, prefix, out, depth+1)
		}
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		if !ok {
			return
		}
		dir := ws.dirOf(importPathOf(f, x.Name))
		if dir == "" {
			return // a type from outside the workspace (time.Duration...): not a settings struct
		}
		other := ws.pkg(t, dir)
		if spec, file := typeSpec(other, e.Sel.Name); spec != nil {
			ws.structVars(t, other, file, spec.Type, prefix, out, depth+1)
		}
	case *ast.StructType:
		for _, field := range e.Fields.List {
			var tag reflect.StructTag
			if field.Tag != nil {
				s, _ := strconv.Unquote(field.Tag.Value)
				tag = reflect.StructTag(s)
			}
			if len(field.Names) > 0 && !field.Names[0].IsExported() {
				continue
			}
			if name, ok := tag.Lookup("env"); ok {
				if name, _, _ = strings.Cut(name, ","); name != "" && name != "-" {
					out[prefix+name] = true
				}
				continue
			}
			ws.structVars(t, p, f, field.Type, prefix+tag.Get("envPrefix"), out, depth+1)
		}
	}
}

// typeSpec finds the declaration of the type name in p, and its file.
func typeSpec(p *goPackage, name string) (*ast.TypeSpec, *ast.File) {
	for _, f := range p.files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				if ts := spec.(*ast.TypeSpec); ts.Name.Name == name {
					return ts, f
				}
			}
		}
	}
	return nil, nil
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// repoRoot is the workspace root: the parent of this module.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Fatalf("workspace root %s has no go.work: %v", root, err)
	}
	return root
}

// TestProgramVars checks the reading of the programs' sources against what they are known
// to read, so that the checks built on it cannot pass by finding nothing.
func TestProgramVars(t *testing.T) {
	ws := loadWorkspace(t)
	tests := []struct {
		program      string
		wantSettings []string // among what is found
		wantOptional []string
		notSettings  []string // must not be found
	}{
		{"api", []string{"HTTP_ADDR", "NATS_URL", "DATABASE_URL", "REDIS_URL", "STORAGE", "S3_BUCKET", "S3_PUBLIC_ENDPOINT", "MAX_NUMBER", "CACHE_TTL", "LOG_LEVEL"},
			[]string{"AWS_REQUEST_CHECKSUM_CALCULATION"}, []string{"CALCULATOR_CONCURRENCY", "DATA_DIR"}},
		{"calculator", []string{"HTTP_ADDR", "NATS_URL", "DATABASE_URL", "STORAGE", "CALCULATOR_CONCURRENCY", "RECONCILE_INTERVAL", "LOG_FORMAT"},
			nil, []string{"REDIS_URL", "CACHE_TTL"}},
		{"migrate", []string{"DATABASE_URL", "LOG_LEVEL", "LOG_FORMAT"}, nil, []string{"NATS_URL"}},
		{"standalone", []string{"DATA_DIR", "EMBEDDED_NATS_ADDR", "NATS_URL", "CALCULATOR_CONCURRENCY", "CACHE_TTL", "LOG_LEVEL"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.program, func(t *testing.T) {
			got := ws.readsOf(t, programs[tt.program])
			t.Logf("%s reads %v; optional %v", tt.program, got.Settings, got.Optional)
			for _, v := range tt.wantSettings {
				if !slices.Contains(got.Settings, v) {
					t.Errorf("%s: %s not found among its settings", tt.program, v)
				}
			}
			for _, v := range tt.wantOptional {
				if !slices.Contains(got.Optional, v) {
					t.Errorf("%s: %s not found among its optional variables", tt.program, v)
				}
			}
			for _, v := range tt.notSettings {
				if slices.Contains(got.Settings, v) {
					t.Errorf("%s: %s found among its settings, which it does not read", tt.program, v)
				}
			}
		})
	}
}
