// Command bench-load measures the service under a crowd, on loopback, and prints one table:
// `make bench-load`.
//
// Workloads, each on a fresh service (nothing computed or cached beforehand):
//
//   - "1..10000": every n from 1 to 10,000, POSTed by 64 clients, each then GET ?wait: the
//     seconds until all are done;
//   - "tiny": every n from 1 to 3,000, the same way: results a second, end to end.
//
// Profiles: embedded (bin/standalone: embedded NATS, SQLite, local disk, in-process cache)
// always; distributed (bin/api and two bin/calculator over PostgreSQL, Redis and a NATS
// server of its own) when TEST_POSTGRES_URL and TEST_REDIS_URL are set and bin/nats-server is
// built (make tools). Every workload is bounded in time (BENCH_TIMEOUT, default 60s). The
// per-client rate limit is off: 64 clients on one address are one crowd, not one abuser.
// The cache entries the distributed API writes to Redis (a key prefix per run) are deleted
// when its run ends.
//
// BENCH_ONLY (a regular expression matched against "<profile> <workload>") picks runs;
// BENCH_ENV (space-separated NAME=value) adds settings to every process of the service.
// BENCH_PROFILE=dir profiles each run into dir (see profiler): CPU, block and mutex profiles
// and execution traces of every process, the CPU time of every process of the machine, the
// NATS server's, Redis's and PostgreSQL's counters, and each number's time split into phases.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/factorial-service/factorial/integration/load"
	"github.com/factorial-service/factorial/platform/database"
)

type workload struct {
	name    string
	numbers []int64
	clients int
	// large are POSTed first, not waited for: the large lane's backlog the numbers are asked
	// beside. env is the service's settings for it.
	large []int64
	env   []string
}

func span(from, to int64) []int64 {
	var ns []int64
	for n := from; n <= to; n++ {
		ns = append(ns, n)
	}
	return ns
}

var workloads = []workload{
	{name: "1..10000", numbers: span(1, 10_000), clients: 64},
	{name: "tiny 1..3000", numbers: span(1, 3_000), clients: 64},
	// Issue 8's lanes: while 200 requests of n from 2,000,000 to 3,000,000 are queued or
	// computing, requests for n up to 20,000 (every 40th, 500 of them) from 8 clients.
	{name: "small beside 200 large", numbers: every(40, 20_000), clients: 8, large: every(5_000, 1_000_000, 1_995_000),
		env: []string{"MAX_NUMBER=3000000", "ADMISSION_LARGE_BUDGET=0", "ADMISSION_LARGE_PER_CLIENT=0"}},
}

// every is from, from+step, … up to to; with an offset added to each.
func every(step, to int64, offset ...int64) []int64 {
	var add int64
	if len(offset) > 0 {
		add = offset[0]
	}
	var ns []int64
	for n := step; n <= to; n += step {
		ns = append(ns, n+add)
	}
	return ns
}

func main() {
	// Interrupted, it still stops what it started, drops its database and deletes its keys.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench-load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	timeout := 60 * time.Second
	if v := os.Getenv("BENCH_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("BENCH_TIMEOUT %q: %w", v, err)
		}
		timeout = d
	}
	var only *regexp.Regexp
	if v := os.Getenv("BENCH_ONLY"); v != "" {
		re, err := regexp.Compile(v)
		if err != nil {
			return fmt.Errorf("BENCH_ONLY %q: %w", v, err)
		}
		only = re
	}
	var prof *profiler
	if dir := os.Getenv("BENCH_PROFILE"); dir != "" {
		var err error
		if prof, err = newProfiler(dir, os.Getenv("BENCH_PROFILE_SECONDS")); err != nil {
			return err
		}
		profiling = true
	}
	root, err := workspaceRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "bench-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bins, err := build(root, tmp)
	if err != nil {
		return err
	}
	fmt.Printf("machine: %s, %d cores (%s/%s), load before: %s\n\n", cpuModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, loadavg())

	fmt.Println("| profile | workload | clients | results | seconds | results/s | POST p50 | POST p99 | GET p50 | GET p99 | POST→done p50 | POST→done p99 | errors |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	profiles := []profile{embedded{bins: bins}}
	pg, redis := os.Getenv("TEST_POSTGRES_URL"), os.Getenv("TEST_REDIS_URL")
	natsServer := filepath.Join(root, "bin", "nats-server")
	if d := os.Getenv("TEST_TOOLS_DIR"); d != "" {
		natsServer = filepath.Join(d, "nats-server")
	}
	_, natsErr := os.Stat(natsServer)
	switch {
	case pg == "" || redis == "":
		fmt.Fprintln(os.Stderr, "bench-load: distributed profile skipped: set TEST_POSTGRES_URL and TEST_REDIS_URL")
	case natsErr != nil:
		fmt.Fprintln(os.Stderr, "bench-load: distributed profile skipped: no bin/nats-server (make tools)")
	default:
		profiles = append(profiles, distributed{bins: bins, pg: pg, redis: redis, natsServer: natsServer, monitor: prof != nil})
	}
	for _, p := range profiles {
		for _, w := range workloads {
			if only != nil && !only.MatchString(p.name()+" "+w.name) {
				continue
			}
			res, err := measure(ctx, p, w, timeout, tmp, prof)
			if err != nil {
				return fmt.Errorf("%s %s: %w", p.name(), w.name, err)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs := "none"
			if len(res.Errors) > 0 {
				errs = strings.Join(res.Errors, "; ")
			}
			if bad := badStatuses(res); bad != "" {
				errs = bad
			}
			fmt.Printf("| %s | %s | %d | %d | %.2f | %.0f | %s | %s | %s | %s | %s | %s | %s |\n", p.name(), w.name, w.clients,
				res.Done, res.Elapsed.Seconds(), res.ResultsPerSecond(),
				ms(res.POST.P(0.5)), ms(res.POST.P(0.99)), ms(res.GET.P(0.5)), ms(res.GET.P(0.99)),
				ms(res.ToDone.P(0.5)), ms(res.ToDone.P(0.99)), errs)
		}
	}
	fmt.Printf("\nload after: %s\n", loadavg())
	if prof != nil {
		fmt.Printf("profiles and counters in %s\n", prof.dir)
	}
	return nil
}

// profiling is set by BENCH_PROFILE: the programs are built with net/http/pprof and each
// process serves it on an address of its own.
var profiling bool

func badStatuses(r load.Result) string {
	var bad []string
	for status, n := range r.Statuses {
		if status != http.StatusOK && status != http.StatusAccepted {
			bad = append(bad, fmt.Sprintf("%d × %d", n, status))
		}
	}
	return strings.Join(bad, ", ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// measure starts a fresh service of profile p, runs w on it and stops it; with prof, it
// profiles the run.
func measure(ctx context.Context, p profile, w workload, timeout time.Duration, tmp string, prof *profiler) (load.Result, error) {
	dir, err := os.MkdirTemp(tmp, "run-")
	if err != nil {
		return load.Result{}, err
	}
	svc, err := p.start(dir, append(strings.Fields(os.Getenv("BENCH_ENV")), w.env...))
	if err != nil {
		return load.Result{}, err
	}
	defer svc.stop()
	if len(w.large) > 0 {
		res := load.Run(ctx, []string{svc.base}, w.large, load.Options{Clients: 8, Timeout: timeout})
		if res.Statuses[http.StatusAccepted] != len(w.large) {
			return load.Result{}, fmt.Errorf("the large requests: %v %v", res.Statuses, res.Errors)
		}
	}
	var finish func(load.Result)
	if prof != nil {
		if finish, err = prof.begin(p.name()+"-"+slug(w.name), svc); err != nil {
			return load.Result{}, err
		}
	}
	res := load.Run(ctx, []string{svc.base}, w.numbers, load.Options{Clients: w.clients, Wait: true, Timeout: timeout,
		Timeline: prof != nil})
	if finish != nil {
		finish(res)
	}
	return res, nil
}

// service is a started service: its base URL, its processes, and how to stop it.
type service struct {
	base    string
	procs   []*proc
	natsMon string // the NATS server's monitoring address, when it is a process of its own
	dbURL   string // its PostgreSQL database, in the distributed profile
	cache   string // its Redis key prefix, in the distributed profile
	stop    func()
}

type profile interface {
	name() string
	// start starts a fresh service with its data under dir and env, ready.
	start(dir string, env []string) (service, error)
}

type binaries struct{ api, calculator, migrate, standalone string }

// mains are the programs bench-load runs.
var mains = []string{"services/api/cmd/api", "services/calculator/cmd/calculator", "migrations/cmd/migrate",
	"services/standalone/cmd/standalone"}

// build compiles the programs from the workspace into dir; with BENCH_PROFILE, each with
// net/http/pprof added (see pprofOverlay).
func build(root, dir string) (binaries, error) {
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if profiling {
		overlay, err := pprofOverlay(root, dir)
		if err != nil {
			return binaries{}, err
		}
		args = append(args, "-overlay", overlay)
	}
	for _, m := range mains {
		args = append(args, "./"+m)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return binaries{}, fmt.Errorf("go build: %v\n%s", err, out)
	}
	return binaries{filepath.Join(dir, "api"), filepath.Join(dir, "calculator"), filepath.Join(dir, "migrate"),
		filepath.Join(dir, "standalone")}, nil
}

// pprofSource is added to each main package when profiling, by go build's -overlay (the
// repository's programs do not serve pprof): it serves net/http/pprof on BENCH_PPROF_ADDR
// and records where goroutines block and wait for locks.
const pprofSource = `package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
)

func init() {
	if addr := os.Getenv("BENCH_PPROF_ADDR"); addr != "" {
		runtime.SetBlockProfileRate(100_000) // a sample per 100 µs blocked
		runtime.SetMutexProfileFraction(10)
		go http.ListenAndServe(addr, nil)
	}
}
`

// pprofOverlay writes pprofSource and an overlay that adds it to every main package into
// dir, and returns the overlay's path.
func pprofOverlay(root, dir string) (string, error) {
	src := filepath.Join(dir, "bench_pprof.go")
	if err := os.WriteFile(src, []byte(pprofSource), 0o644); err != nil {
		return "", err
	}
	replace := map[string]string{}
	for _, m := range mains {
		replace[filepath.Join(root, m, "zz_bench_pprof.go")] = src
	}
	data, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "overlay.json")
	return path, os.WriteFile(path, data, 0o644)
}

// embedded is bin/standalone.
type embedded struct{ bins binaries }

func (embedded) name() string { return "embedded" }

func (e embedded) start(dir string, env []string) (service, error) {
	addr, err := freeAddr()
	if err != nil {
		return service{}, err
	}
	p, err := startProcess(dir, "standalone", e.bins.standalone, append([]string{"DATA_DIR=" + dir, "HTTP_ADDR=" + addr,
		"EMBEDDED_NATS_ADDR=off", "RATE_LIMIT_RPS=0", "LOG_LEVEL=warn"}, env...))
	if err != nil {
		return service{}, err
	}
	base := "http://" + addr
	if err := waitReady(base, p); err != nil {
		p.stop()
		return service{}, err
	}
	return service{base: base, procs: []*proc{p}, dbURL: filepath.Join(dir, "factorial.db"), stop: p.stop}, nil
}

// distributed is bin/api and two bin/calculator over PostgreSQL (a database of its own),
// Redis (a key prefix of its own) and a nats-server process of its own.
type distributed struct {
	bins       binaries
	pg, redis  string
	natsServer string
	monitor    bool // the NATS server serves its monitoring endpoints (with BENCH_PROFILE)
}

func (distributed) name() string { return "distributed" }

func (d distributed) start(dir string, env []string) (service, error) {
	svc := service{}
	var stops []func()
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	fail := func(err error) (service, error) { stopAll(); return service{}, err }

	dbURL, drop, err := freshDatabase(d.pg)
	if err != nil {
		return fail(err)
	}
	stops = append(stops, drop)
	svc.dbURL = dbURL
	natsAddr, err := freeAddr()
	if err != nil {
		return fail(err)
	}
	args := []string{"-a", "127.0.0.1", "-p", port(natsAddr), "-js", "-sd", filepath.Join(dir, "nats")}
	if d.monitor {
		mon, err := freeAddr()
		if err != nil {
			return fail(err)
		}
		args = append(args, "-m", port(mon))
		svc.natsMon = "http://" + mon
	}
	nats, err := startProcess(dir, "nats-server", d.natsServer, nil, args...)
	if err != nil {
		return fail(err)
	}
	stops = append(stops, nats.stop)
	svc.procs = append(svc.procs, nats)
	if err := waitPort(natsAddr); err != nil {
		return fail(err)
	}
	cmd := exec.Command(d.bins.migrate, "up")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("migrate up: %v\n%s", err, out))
	}
	common := []string{"NATS_URL=nats://" + natsAddr, "DATABASE_URL=" + dbURL, "STORAGE=local",
		"LOCAL_STORAGE_DIR=" + filepath.Join(dir, "objects"), "RATE_LIMIT_RPS=0", "LOG_LEVEL=warn"}
	common = append(common, env...)
	for i := range 2 {
		addr, err := freeAddr()
		if err != nil {
			return fail(err)
		}
		c, err := startProcess(dir, fmt.Sprintf("calculator-%d", i+1), d.bins.calculator, append(slices.Clone(common), "HTTP_ADDR="+addr))
		if err != nil {
			return fail(err)
		}
		stops = append(stops, c.stop)
		svc.procs = append(svc.procs, c)
		if err := waitReady("http://"+addr, c); err != nil {
			return fail(err)
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return fail(err)
	}
	// The API's cache entries go to the machine's Redis under a prefix of their own, deleted
	// when the service stops.
	svc.cache = "bench-" + strings.ToLower(rand.Text()[:8]) + ":"
	stops = append(stops, func() { deletePrefix(d.redis, svc.cache) })
	a, err := startProcess(dir, "api", d.bins.api, append(slices.Clone(common), "HTTP_ADDR="+addr, "REDIS_URL="+d.redis,
		"CACHE_PREFIX="+svc.cache))
	if err != nil {
		return fail(err)
	}
	stops = append(stops, a.stop)
	svc.procs = append(svc.procs, a)
	if err := waitReady("http://"+addr, a); err != nil {
		return fail(err)
	}
	svc.base, svc.stop = "http://"+addr, stopAll
	return svc, nil
}

// deletePrefix deletes the keys of Redis at url whose names start with prefix.
func deletePrefix(url, prefix string) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return
	}
	client := redis.NewClient(opts)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	flush := func() {
		if len(keys) > 0 {
			if err := client.Unlink(ctx, keys...).Err(); err != nil {
				fmt.Fprintf(os.Stderr, "bench-load: delete the cache keys %s*: %v\n", prefix, err)
			}
			keys = keys[:0]
		}
	}
	for iter.Next(ctx) {
		if keys = append(keys, iter.Val()); len(keys) == 1000 {
			flush()
		}
	}
	flush()
	if err := iter.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "bench-load: delete the cache keys %s*: %v\n", prefix, err)
	}
}

func port(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

// freshDatabase creates a PostgreSQL database of its own on the server of url, and returns
// its URL and how to drop it.
func freshDatabase(url string) (string, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := database.Open(ctx, url)
	if err != nil {
		return "", nil, err
	}
	defer admin.Close()
	name := "bench_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	i := strings.LastIndex(url, "/")
	q := ""
	if j := strings.Index(url[i:], "?"); j >= 0 {
		q = url[i+j:]
	}
	dbURL := url[:i+1] + name + q
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := database.Open(ctx, url)
		if err != nil {
			return
		}
		defer admin.Close()
		_, _ = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	return dbURL, drop, nil
}

type proc struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
	pprof  string // with BENCH_PROFILE: where its net/http/pprof listens
}

// startProcess starts path with env (and PATH) and args, its output to dir/name.log; it dies
// with this program.
func startProcess(dir, name, path string, env []string, args ...string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	var pprofAddr string
	if profiling {
		if pprofAddr, err = freeAddr(); err != nil {
			f.Close()
			return nil, err
		}
		if name == "nats-server" {
			args = append(args, "--profile", port(pprofAddr))
		} else {
			env = append(slices.Clone(env), "BENCH_PPROF_ADDR="+pprofAddr)
		}
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, exited: make(chan struct{}), log: logPath, pprof: pprofAddr}
	go func() { _ = cmd.Wait(); f.Close(); close(p.exited) }()
	return p, nil
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *proc) tail() string {
	data, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

func waitReady(base string, p *proc) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before it was ready:\n%s", p.name, p.tail())
		default:
		}
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after 60s:\n%s", p.name, p.tail())
}

func waitPort(addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s", addr)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func workspaceRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the workspace (no go.work above)")
		}
		dir = parent
	}
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
