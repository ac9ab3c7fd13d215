// Command bench-http measures the API's reads beside the framework's limit, on loopback: it
// starts the standalone service and, in the same run, a bare echo server answering the same
// bytes (and http.ServeContent of the same text from a file), and loads both with wrk (or,
// where wrk is not installed, a load generator of its own in this process), interleaved
// A B B A over several rounds, for:
//
//   - a cached GET /api/v1/factorial/{n} of a small finished n (JSON),
//   - GET /api/v1/factorial/metadata/{n} of it,
//   - the text of n = 10,000 and of n = 100,000.
//
// It prints a table of the medians (requests/s, p99), the ratios of each run to the bare
// server's run beside it (their medians) and the targets, with the machine and its load, and
// the CPU time each side spends per request, which does not depend on the load. make
// bench-http builds bin/standalone and runs it.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

func main() {
	bare := flag.String("serve-bare", "", "serve the bare handlers on this address, from the files in -dir (internal)")
	dir := flag.String("dir", "", "directory of the bare server's files (internal)")
	standalone := flag.String("standalone", "bin/standalone", "the standalone binary")
	duration := flag.Duration("duration", 2*time.Second, "length of one measurement")
	rounds := flag.Int("rounds", 7, "rounds of A B B A per scenario")
	conns := flag.Int("conns", 16, "connections of the load generator")
	generator := flag.String("load", "auto", "load generator: wrk, builtin, or auto (wrk where it is on PATH)")
	flag.Parse()
	var err error
	if *bare != "" {
		err = serveBare(*bare, *dir)
	} else {
		err = run(*standalone, *generator, *duration, *rounds, *conns)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-http:", err)
		os.Exit(1)
	}
}

// scenario is one comparison: a path of the service against a path of the bare server.
type scenario struct {
	name, service, bare string
	text                bool // a text download: the target is requests/s only
}

const small = 100 // the small finished n of the JSON scenarios

// loader is a load generator: load sends GET path to addr from conns keep-alive connections,
// each one request at a time, for d; the result's generate is the generator's CPU time.
type loader interface {
	load(addr, path string, conns int, d time.Duration) (result, error)
	String() string
}

func run(standalone, generator string, d time.Duration, rounds, conns int) error {
	work, err := os.MkdirTemp("", "bench-http-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	var gen loader = builtinLoad{}
	if generator != "builtin" {
		w, err := newWrkLoad(work)
		switch {
		case err == nil:
			gen = w
		case generator == "wrk":
			return fmt.Errorf("wrk: %w (Debian: apt-get install wrk)", err)
		default:
			fmt.Fprintln(os.Stderr, "wrk is not on PATH (Debian: apt-get install wrk): loading with the built-in generator")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	svcAddr, bareAddr := freeAddr(), freeAddr()
	fmt.Fprintf(os.Stderr, "starting %s on %s\n", standalone, svcAddr)
	svc := exec.CommandContext(ctx, standalone)
	svc.Env = append(os.Environ(), "HTTP_ADDR="+svcAddr, "DATA_DIR="+filepath.Join(work, "data"),
		"EMBEDDED_NATS_ADDR=off", "LOG_LEVEL=warn", "RATE_LIMIT_RPS=0")
	svc.Stdout, svc.Stderr = os.Stderr, os.Stderr
	if err := svc.Start(); err != nil {
		return fmt.Errorf("start %s: %w (make bench-http builds it)", standalone, err)
	}
	defer stopProcess(svc)
	base := "http://" + svcAddr
	if err := waitReady(base + "/readyz"); err != nil {
		return err
	}
	for _, n := range []int{small, 10_000, 100_000} {
		if err := compute(base, n); err != nil {
			return err
		}
	}
	files := map[string]string{
		"json":        fmt.Sprintf("/api/v1/factorial/%d", small),
		"meta":        fmt.Sprintf("/api/v1/factorial/metadata/%d", small),
		"text-10000":  "/api/v1/factorial/10000?format=text",
		"text-100000": "/api/v1/factorial/100000?format=text",
	}
	bareDir := filepath.Join(work, "bare")
	if err := os.Mkdir(bareDir, 0o755); err != nil {
		return err
	}
	for name, path := range files {
		body, err := get(base + path)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(bareDir, name), body, 0o644); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bare := exec.CommandContext(ctx, self, "-serve-bare", bareAddr, "-dir", bareDir)
	bare.Stdout, bare.Stderr = os.Stderr, os.Stderr
	if err := bare.Start(); err != nil {
		return err
	}
	defer stopProcess(bare)
	if err := waitReady("http://" + bareAddr + "/json"); err != nil {
		return err
	}

	scenarios := []scenario{
		{"cached GET /api/v1/factorial/100 (JSON)", files["json"], "/json", false},
		{"GET /api/v1/factorial/metadata/100", files["meta"], "/meta", false},
		{"text of 10000! (35,660 bytes)", files["text-10000"], "/text-10000", true},
		{"text of 100000! (456,574 bytes)", files["text-100000"], "/text-100000", true},
	}
	before := loadAvg()
	fmt.Fprintf(os.Stderr, "measuring with %v: %d scenarios, %d rounds of A B B A, %v each, %d connections\n", gen, len(scenarios), rounds, d, conns)
	type row struct {
		scenario
		svc, bare []result
	}
	var rows []row
	for _, sc := range scenarios {
		// Warm both up (caches filled, connections and buffers grown).
		for _, t := range [][2]string{{svcAddr, sc.service}, {bareAddr, sc.bare}} {
			if _, err := gen.load(t[0], t[1], conns, d/2); err != nil {
				return fmt.Errorf("%s: %w", sc.name, err)
			}
		}
		r := row{scenario: sc}
		for range rounds {
			for _, which := range []string{"svc", "bare", "bare", "svc"} {
				addr, path, pid := svcAddr, sc.service, svc.Process.Pid
				if which == "bare" {
					addr, path, pid = bareAddr, sc.bare, bare.Process.Pid
				}
				cpu0, err := processCPU(pid)
				if err != nil {
					return err
				}
				res, err := gen.load(addr, path, conns, d)
				if err != nil {
					return fmt.Errorf("%s: %w", sc.name, err)
				}
				cpu, err := processCPU(pid)
				if err != nil {
					return err
				}
				res.cpu, res.generate = (cpu-cpu0)/time.Duration(res.requests), res.generate/time.Duration(res.requests)
				if res.errors > 0 {
					return fmt.Errorf("%s: %d answers were not 200", sc.name, res.errors)
				}
				if which == "svc" {
					r.svc = append(r.svc, res)
				} else {
					r.bare = append(r.bare, res)
				}
			}
		}
		fmt.Fprintf(os.Stderr, "  %s done\n", sc.name)
		rows = append(rows, r)
	}
	after := loadAvg()

	fmt.Printf("Machine: %s, %d cores, Go %s; load average %s before, %s after.\n",
		cpuModel(), runtime.NumCPU(), strings.TrimPrefix(runtime.Version(), "go"), before, after)
	fmt.Printf("Loopback, load from %v, %d connections, %d rounds of service/bare/bare/service × %v; medians (min) of %d runs each.\n\n",
		gen, conns, rounds, d, 2*rounds)
	fmt.Println("| read | service req/s | bare req/s | ratio (range) | service p99 | bare p99 | p99 ratio | target | CPU µs/req service, bare, load generator | CPU ratio |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
	for _, r := range rows {
		s, b := summarize(r.svc), summarize(r.bare)
		ratio, lo, hi, p99ratio := paired(r.svc, r.bare)
		target, met := "≥ 0.8× req/s, p99 ≤ 1.5×", ratio >= 0.8 && p99ratio <= 1.5
		if r.text {
			target, met = "≥ 0.8× req/s of ServeContent from a file", ratio >= 0.8
		}
		verdict := "met"
		if !met {
			verdict = "**not met**"
		}
		// What the ratio of requests/s would be where the service (or the bare server) and
		// the load generator had the cores to themselves: the inverse ratio of the CPU
		// time both spend per request. It does not depend on what else runs.
		cpuRatio := float64(b.cpu+b.generate) / float64(s.cpu+s.generate)
		fmt.Printf("| %s | %.0f (%.0f) | %.0f (%.0f) | %.2f (%.2f–%.2f) | %s | %s | %.2f | %s: %s | %s, %s, %s | %.2f |\n",
			r.name, s.rps, s.minRPS, b.rps, b.minRPS, ratio, lo, hi, ms(s.p99), ms(b.p99), p99ratio, target, verdict,
			us(s.cpu), us(b.cpu), us((s.generate+b.generate)/2), cpuRatio)
	}
	fmt.Println("\nratio, p99 ratio: medians of the ratios of each run of the service to the run of the bare server beside it in time;")
	fmt.Println("range: the lowest and highest of those ratios of requests/s.")
	fmt.Println("CPU µs/req: CPU time (user and system) of the server process and of the load generator per request answered,")
	fmt.Println("medians; CPU ratio: (bare + its generator) / (service + its generator), the ratio of requests/s")
	fmt.Println("on cores of their own, whatever else runs.")
	return nil
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Nanoseconds())/1000) }

// summary is the median of several runs (and the lowest requests/s).
type summary struct {
	rps, minRPS        float64
	p99, cpu, generate time.Duration
}

func summarize(rs []result) summary {
	rps := make([]float64, len(rs))
	p99, cpu, gen := make([]time.Duration, len(rs)), make([]time.Duration, len(rs)), make([]time.Duration, len(rs))
	for i, r := range rs {
		rps[i], p99[i], cpu[i], gen[i] = r.rps, r.p99, r.cpu, r.generate
	}
	return summary{rps: median(rps), minRPS: slices.Min(rps), p99: median(p99), cpu: median(cpu), generate: median(gen)}
}

// paired is the median, over the runs, of the ratios of requests/s and of p99 of each run of
// the service to the bare server's run beside it in time (service, bare, bare, service: the
// first with the first, the second with the second): the machine's speed drifts from one
// minute to the next, and a ratio of neighbours cancels what the two medians of runs
// minutes apart do not. lo and hi are the extremes of the ratios of requests/s, the spread
// the median is taken from.
func paired(svc, bare []result) (rps, lo, hi, p99 float64) {
	rs, ps := make([]float64, len(svc)), make([]float64, len(svc))
	for i := range svc {
		rs[i] = svc[i].rps / bare[i].rps
		ps[i] = float64(svc[i].p99) / float64(bare[i].p99)
	}
	return median(rs), slices.Min(rs), slices.Max(rs), median(ps)
}

// median sorts v and returns its middle value (the mean of the two middle ones when v has an
// even length).
func median[T float64 | time.Duration](v []T) T {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// serveBare serves, with echo and nothing else, the same bytes the service answers: the JSON
// with c.Blob, the text with http.ServeContent of a file (opened per request, as a store would).
func serveBare(addr, dir string) error {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	for _, name := range []string{"json", "meta"} {
		body, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		e.GET("/"+name, func(c echo.Context) error { return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body) })
	}
	for _, name := range []string{"text-10000", "text-100000"} {
		path := filepath.Join(dir, name)
		e.GET("/"+name, func(c echo.Context) error {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			c.Response().Header().Set(echo.HeaderContentType, "text/plain; charset=utf-8")
			http.ServeContent(c.Response().Writer, c.Request(), "", fi.ModTime(), f)
			return nil
		})
	}
	return http.ListenAndServe(addr, e)
}

// compute asks for n! and waits until it is done.
func compute(base string, n int) error {
	resp, err := http.Post(base+"/api/v1/factorial", "application/json", strings.NewReader(fmt.Sprintf(`{"number": %d}`, n)))
	if err != nil {
		return err
	}
	resp.Body.Close()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Get(fmt.Sprintf("%s/api/v1/factorial/%d?wait=30s", base, n))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
	return fmt.Errorf("%d! not done within 2 minutes", n)
}

func get(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

func waitReady(url string) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New(url + " not ready within a minute")
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func stopProcess(c *exec.Cmd) {
	if c.Process == nil {
		return
	}
	_ = c.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = c.Process.Kill()
		<-done
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.Equal(bytes.TrimSpace(k), []byte("model name")) {
			return string(bytes.TrimSpace(v))
		}
	}
	return runtime.GOARCH
}
