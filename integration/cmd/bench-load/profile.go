package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/factorial-service/factorial/integration/load"
	"github.com/factorial-service/factorial/platform/database"
)

// profiler records, with BENCH_PROFILE=dir, what each run costs: a CPU profile of every
// process of the service (net/http/pprof, built in with the pprof tag; nats-server's own
// --profile) and of the load generator, for the first BENCH_PROFILE_SECONDS (10) of the run;
// their block and mutex profiles; the CPU time of every process of the machine during the
// run; the NATS server's counters (/varz, /jsz); Redis's INFO commandstats; and, when
// pg_stat_statements is loaded in the PostgreSQL server, its statements, commits and WAL
// syncs.
type profiler struct {
	dir     string
	seconds int
	redis   string
}

func newProfiler(dir, seconds string) (*profiler, error) {
	p := &profiler{dir: dir, seconds: 10, redis: os.Getenv("TEST_REDIS_URL")}
	if seconds != "" {
		s, err := strconv.Atoi(seconds)
		if err != nil || s < 1 {
			return nil, fmt.Errorf("BENCH_PROFILE_SECONDS %q: a number of seconds", seconds)
		}
		p.seconds = s
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return p, nil
}

// begin starts recording run tag of svc; the function it returns ends it and writes
// tag.txt beside the profiles.
func (p *profiler) begin(tag string, svc service) (func(load.Result), error) {
	var report strings.Builder
	cpu0, at0 := processTimes(), time.Now()
	varz0 := p.nats(svc.natsMon, "varz")
	redis0 := p.commandStats()
	var pg0 map[string]int64
	if strings.HasPrefix(svc.dbURL, "postgres") {
		pg0 = pgCounters(svc.dbURL, true)
	}

	var wg sync.WaitGroup
	for _, proc := range svc.procs {
		if proc.pprof == "" {
			continue
		}
		wg.Go(func() {
			p.fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", proc.pprof, p.seconds),
				filepath.Join(p.dir, tag+"-"+proc.name+".cpu.pprof"))
		})
	}
	// An execution trace of each of the service's Go processes, 2 s from 1 s into the run:
	// where goroutines wait on the network, and how long the runnable ones wait for a core
	// (go tool trace -pprof=net|sync|syscall|sched).
	for _, proc := range svc.procs {
		if proc.pprof == "" || proc.name == "nats-server" {
			continue
		}
		wg.Go(func() {
			time.Sleep(time.Second)
			p.fetch(fmt.Sprintf("http://%s/debug/pprof/trace?seconds=2", proc.pprof), filepath.Join(p.dir, tag+"-"+proc.name+".trace"))
		})
	}
	self, err := os.Create(filepath.Join(p.dir, tag+"-loadgen.cpu.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(self); err != nil {
		self.Close()
		return nil, err
	}
	stopSelf := sync.OnceFunc(func() { pprof.StopCPUProfile(); self.Close() })
	timer := time.AfterFunc(time.Duration(p.seconds)*time.Second, stopSelf)

	return func(res load.Result) {
		elapsed := time.Since(at0)
		cpu1 := processTimes()
		var pgPids map[int]string
		if strings.HasPrefix(svc.dbURL, "postgres") {
			pgPids = pgProcesses(svc.dbURL)
		}
		timer.Stop()
		stopSelf()
		wg.Wait()
		for _, proc := range svc.procs {
			if proc.pprof == "" || proc.name == "nats-server" {
				continue
			}
			for _, kind := range []string{"block", "mutex"} {
				p.fetch(fmt.Sprintf("http://%s/debug/pprof/%s", proc.pprof, kind), filepath.Join(p.dir, tag+"-"+proc.name+"."+kind+".pprof"))
			}
		}
		fmt.Fprintf(&report, "%s: %d results in %.2f s (%.0f/s); profiled the first %d s\n\n", tag, res.Done, res.Elapsed.Seconds(),
			res.ResultsPerSecond(), p.seconds)
		fmt.Fprintf(&report, "CPU seconds during the run (%.2f s wall, %.2f core-seconds on this machine):\n", elapsed.Seconds(),
			elapsed.Seconds()*float64(cores()))
		writeCPU(&report, cpu0, cpu1, svc.procs, pgPids)
		if svc.natsMon != "" {
			fmt.Fprintf(&report, "\nNATS /varz (after − before):\n")
			writeDiff(&report, varz0, p.nats(svc.natsMon, "varz"), "in_msgs", "out_msgs", "in_bytes", "out_bytes", "slow_consumers", "cpu")
			_ = os.WriteFile(filepath.Join(p.dir, tag+"-jsz.json"), []byte(jsonIndent(p.nats(svc.natsMon, "jsz?consumers=true"))), 0o644)
		}
		if p.redis != "" {
			fmt.Fprintf(&report, "\nRedis commands (after − before, whole server):\n")
			redis1 := p.commandStats()
			for _, k := range sortedKeys(redis1) {
				if d := redis1[k] - redis0[k]; d > 0 {
					fmt.Fprintf(&report, "  %-24s %d\n", k, d)
				}
			}
		}
		if svc.dbURL != "" {
			fmt.Fprintf(&report, "\n%s", timeline(svc.dbURL, res.Times))
		}
		if strings.HasPrefix(svc.dbURL, "postgres") {
			pg1 := pgCounters(svc.dbURL, false)
			fmt.Fprintf(&report, "\nPostgreSQL (after − before):\n")
			for _, k := range sortedKeys(pg1) {
				if strings.HasPrefix(k, "stmt") {
					continue
				}
				fmt.Fprintf(&report, "  %-24s %d\n", k, pg1[k]-pg0[k])
			}
			fmt.Fprintf(&report, "\n%s", pgStatements(svc.dbURL))
		}
		_ = os.WriteFile(filepath.Join(p.dir, tag+".txt"), []byte(report.String()), 0o644)
		fmt.Fprint(os.Stderr, report.String(), "\n")
	}, nil
}

func (p *profiler) fetch(url, path string) {
	resp, err := http.Get(url)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-load: %s: %v\n", url, err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}

func (p *profiler) nats(mon, path string) map[string]any {
	if mon == "" {
		return nil
	}
	resp, err := http.Get(mon + "/" + path)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&v)
	return v
}

func (p *profiler) commandStats() map[string]int64 {
	out := map[string]int64{}
	if p.redis == "" {
		return out
	}
	opts, err := redis.ParseURL(p.redis)
	if err != nil {
		return out
	}
	c := redis.NewClient(opts)
	defer c.Close()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		return out
	}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		out[strings.TrimPrefix(name, "cmdstat_")], _ = strconv.ParseInt(calls, 10, 64)
	}
	return out
}

// openPG opens the run's database for a look of at most 10 s; done closes it.
func openPG(url string) (context.Context, *bun.DB, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	db, err := database.Open(ctx, url)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return ctx, db, func() { _ = db.Close(); cancel() }, nil
}

// pgCounters reads the commits of the run's database and the server's WAL writes and syncs;
// reset clears pg_stat_statements (when the server has it) for the run.
func pgCounters(url string, reset bool) map[string]int64 {
	out := map[string]int64{}
	if url == "" {
		return out
	}
	ctx, db, done, err := openPG(url)
	if err != nil {
		return out
	}
	defer done()
	if reset {
		_, _ = db.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
		_, _ = db.ExecContext(ctx, "SELECT pg_stat_statements_reset()")
	}
	var commits, rollbacks int64
	if err := db.QueryRowContext(ctx, "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()").
		Scan(&commits, &rollbacks); err == nil {
		out["commits"], out["rollbacks"] = commits, rollbacks
	}
	var records, bytes, writes, syncs int64
	if err := db.QueryRowContext(ctx, "SELECT wal_records, wal_bytes::bigint, wal_write, wal_sync FROM pg_stat_wal").
		Scan(&records, &bytes, &writes, &syncs); err == nil {
		out["wal_records (server)"], out["wal_bytes (server)"], out["wal_write (server)"], out["wal_sync (server)"] = records, bytes, writes, syncs
	}
	return out
}

// pgProcesses names the PostgreSQL server's processes that work for the run's database: the
// backends connected to it ("postgres: service backends"), and the server's own processes
// that every database shares ("postgres: server (walwriter, …)"), where the WAL writes and
// syncs of asynchronous commits go. The backends of other databases (other work on the
// machine) stay "other". A backend that ended before the run did is not counted: the
// service's pools keep their connections.
func pgProcesses(url string) map[int]string {
	out := map[int]string{}
	ctx, db, done, err := openPG(url)
	if err != nil {
		return out
	}
	defer done()
	rows, err := db.QueryContext(ctx, `SELECT pid, datname = current_database(), backend_type FROM pg_stat_activity
		WHERE datname = current_database() OR backend_type NOT IN ('client backend', 'autovacuum worker', 'parallel worker')`)
	if err != nil {
		return out
	}
	defer rows.Close()
	for rows.Next() {
		var (
			pid  int
			ours sql.NullBool
			kind string
		)
		if rows.Scan(&pid, &ours, &kind) != nil {
			continue
		}
		if ours.Bool {
			out[pid] = "postgres: service backends"
		} else {
			out[pid] = "postgres: server (walwriter, …)"
		}
	}
	return out
}

// pgStatements lists the statements of the run by total time, from pg_stat_statements.
func pgStatements(url string) string {
	ctx, db, done, err := openPG(url)
	if err != nil {
		return ""
	}
	defer done()
	rows, err := db.QueryContext(ctx, `SELECT calls, rows, total_exec_time, mean_exec_time, wal_records,
			left(regexp_replace(query, '\s+', ' ', 'g'), 140)
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		ORDER BY total_exec_time DESC LIMIT 25`)
	if err != nil {
		return "pg_stat_statements: " + err.Error() + "\n"
	}
	defer rows.Close()
	var b strings.Builder
	b.WriteString("pg_stat_statements (calls, rows, total ms, mean ms, WAL records, query):\n")
	for rows.Next() {
		var calls, nrows, wal int64
		var total, mean float64
		var q string
		if err := rows.Scan(&calls, &nrows, &total, &mean, &wal, &q); err == nil {
			fmt.Fprintf(&b, "  %7d %8d %9.1f %7.3f %7d  %s\n", calls, nrows, total, mean, wal, q)
		}
	}
	return b.String()
}

type procTime struct {
	comm  string
	ticks int64
}

// processTimes is the user+system CPU time of every process of the machine, by pid.
func processTimes() map[int]procTime {
	out := map[int]procTime{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(data)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		out[pid] = procTime{comm: s[open+1 : end], ticks: utime + stime}
	}
	return out
}

// writeCPU writes the CPU seconds each process used between two readings: the service's
// processes by name, the others grouped by command.
func writeCPU(w io.Writer, before, after map[int]procTime, procs []*proc, pg map[int]string) {
	const hz = 100.0 // USER_HZ
	ours := map[int]string{os.Getpid(): "bench-load (load generator)"}
	for pid, name := range pg {
		ours[pid] = name
	}
	for _, p := range procs {
		ours[p.cmd.Process.Pid] = p.name
	}
	byName := map[string]float64{}
	total := 0.0
	for pid, a := range after {
		d := float64(a.ticks-before[pid].ticks) / hz
		if d <= 0 {
			continue
		}
		name, ok := ours[pid]
		if !ok {
			name = "other: " + a.comm
		}
		byName[name] += d
		total += d
	}
	names := sortedKeys(byName)
	sort.SliceStable(names, func(i, j int) bool { return byName[names[i]] > byName[names[j]] })
	for i, n := range names {
		if i >= 15 {
			break
		}
		fmt.Fprintf(w, "  %-40s %7.2f s  %4.1f%%\n", n, byName[n], 100*byName[n]/total)
	}
	fmt.Fprintf(w, "  %-40s %7.2f s\n", "total", total)
}

func writeDiff(w io.Writer, before, after map[string]any, keys ...string) {
	for _, k := range keys {
		a, _ := after[k].(float64)
		b, _ := before[k].(float64)
		fmt.Fprintf(w, "  %-16s %.0f (after %.0f)\n", k, a-b, a)
	}
}

func jsonIndent(v any) string {
	data, _ := json.MarshalIndent(v, "  ", "  ")
	return string(data)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func slug(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(s))
}

func cores() int { return runtime.NumCPU() }

// timeline splits each number's time from its POST to its done answer into phases, from the
// load generator's clock and the record's timestamps (one machine, one clock).
func timeline(url string, times []load.Times) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := database.Open(ctx, url)
	if err != nil {
		return "timeline: " + err.Error() + "\n"
	}
	defer db.Close()
	var recs []database.Record
	if err := db.NewSelect().Model(&recs).Column("number", "requested_at", "started_at", "computed_at").Scan(ctx); err != nil {
		return "timeline: " + err.Error() + "\n"
	}
	byNumber := make(map[int64]database.Record, len(recs))
	for _, r := range recs {
		byNumber[r.Number] = r
	}
	phases := []string{"POST (sent → answered)", "answered → claimed (started_at)", "claimed → completed (computed_at)",
		"completed → done answer received", "POST sent → done answer"}
	ds := make([]load.Latencies, len(phases))
	for _, t := range times {
		r, ok := byNumber[t.N]
		if !ok || r.StartedAt == nil || r.ComputedAt == nil {
			continue
		}
		ds[0] = append(ds[0], t.Answered.Sub(t.Posted))
		ds[1] = append(ds[1], r.StartedAt.Sub(t.Answered))
		ds[2] = append(ds[2], r.ComputedAt.Sub(*r.StartedAt))
		ds[3] = append(ds[3], t.Done.Sub(*r.ComputedAt))
		ds[4] = append(ds[4], t.Done.Sub(t.Posted))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Timeline of %d numbers (p10 / p50 / p90 / p99):\n", len(ds[0]))
	for i, name := range phases {
		fmt.Fprintf(&b, "  %-36s %8s %8s %8s %8s\n", name, ms(ds[i].P(0.1)), ms(ds[i].P(0.5)), ms(ds[i].P(0.9)), ms(ds[i].P(0.99)))
	}
	return b.String()
}
