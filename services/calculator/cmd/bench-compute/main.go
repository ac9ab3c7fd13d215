// Command bench-compute times the factorial engine against GMP, side by side, and prints the
// markdown tables of the README's "The factorial engine".
//
//	go run ./cmd/bench-compute [-n 10000,100000,1000000,10000000] [-rounds 3] [-sums 10000,20000] [-grid=true]
//
// Every measurement runs in a child process, the engine's (this program with -child) and
// GMP's (../shared/reference/gmpfac.c and gmprange.c, compiled once with cc and libgmp-dev),
// interleaved within each round (engine then GMP in odd rounds, GMP then engine in even
// ones), and the minimum and median of the rounds are reported with their ratios. The
// engine's child reports its own peak resident set (VmHWM, Go runtime and executable
// included) and, apart, the pages of its executable (RssFile).
//
//   - Large n: the engine's time to the first digit ("product") and to the last ("total"),
//     against GMP's mpz_fac_ui ("product") and mpz_get_str ("decimal") as gmpfac prints them.
//   - Small n, warm in one process: the sum over every n from 1 to each -sums bound of
//     AppendText and of Write (to io.Discard), against gmprange's sum of mpz_fac_ui and
//     mpz_get_str; and, with -grid, single n from 1 to 20,000, each timed as the best of 30
//     batches of repetitions spread over the run (30 passes over the grid), the engine's
//     against GMP's (c/gmpwarm.c beside this file, which times the same way), with the
//     largest ratio.
//
// The default run takes a few minutes on two cores; 5*10^7 and 10^8 are for -n (GMP runs only
// up to -gmpmax: its decimal conversion of 10^8! alone takes many minutes).
package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/factorial-service/factorial/services/calculator/factorial"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench-compute:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench-compute", flag.ContinueOnError)
	sizes := fs.String("n", "10000,100000,1000000,10000000", "comma-separated n for the large runs (empty: none)")
	rounds := fs.Int("rounds", 3, "rounds, each running the engine and GMP once per measurement")
	sums := fs.String("sums", "10000,20000", "comma-separated upper bounds of the warm sums over 1..bound (empty: none)")
	grid := fs.Bool("grid", true, "compare single n from 1 to 20,000, warm")
	gmpMax := fs.Uint64("gmpmax", 10_000_000, "largest n for which GMP runs too (its decimal conversion takes minutes beyond)")
	child := fs.String("child", "", "internal: run one measurement (large, sum or grid) and print it as JSON")
	childArg := fs.String("arg", "", "internal: the child's argument")
	childOrder := fs.String("order", "", "internal: the child's order of measurements")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *child != "" {
		return measure(*child, *childArg, *childOrder, stdout)
	}
	ns, err := parseList(*sizes)
	if err != nil {
		return fmt.Errorf("-n: %w", err)
	}
	bounds, err := parseList(*sums)
	if err != nil {
		return fmt.Errorf("-sums: %w", err)
	}
	if *rounds < 1 {
		return errors.New("-rounds must be at least 1")
	}
	gmp, err := buildGMP(ctx)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b := &bench{ctx: ctx, self: self, gmp: gmp, rounds: *rounds, gmpMax: *gmpMax}

	fmt.Fprintf(stdout, "Machine: %s, %d cores, %s; load before: %s\n", cpuModel(), runtime.NumCPU(), runtime.Version(), loadAverage())
	fmt.Fprintf(stdout, "Command: `bench-compute %s` (%d rounds, engine and GMP interleaved; min / median)\n\n", strings.Join(args, " "), *rounds)
	if len(ns) > 0 {
		if err := b.large(stdout, ns); err != nil {
			return err
		}
	}
	if len(bounds) > 0 {
		if err := b.sums(stdout, bounds); err != nil {
			return err
		}
	}
	if *grid {
		if err := b.grid(stdout); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "Load after: %s\n", loadAverage())
	return nil
}

// bench runs the measurements.
type bench struct {
	ctx    context.Context
	self   string
	gmp    gmpPrograms
	rounds int
	gmpMax uint64
	calls  int // children started, to alternate their inner order
}

// both runs the engine's measurement and GMP's once per round, in alternating order.
func (b *bench) both(engine, gmp func() error) error {
	for r := range b.rounds {
		first, second := engine, gmp
		if r%2 == 1 {
			first, second = gmp, engine
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
	}
	return nil
}

// largeResult is one large measurement of the engine, in seconds and bytes.
type largeResult struct {
	Digits   int64   `json:"digits"`
	Product  float64 `json:"product_s"`
	Total    float64 `json:"total_s"`
	PeakRSS  int64   `json:"peak_rss"`
	FilesRSS int64   `json:"files_rss"`
}

func (b *bench) large(w io.Writer, ns []uint64) error {
	fmt.Fprintln(w, "| n | digits | engine total s | engine product s | GMP product s | GMP decimal s | GMP total s | engine / GMP product | engine / GMP total | engine peak RSS MiB | RSS / text |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	var executable int64
	for _, n := range ns {
		var ours []largeResult
		var gp, gd, gt []float64
		err := b.both(func() error {
			var r largeResult
			if err := b.child("large", n, &r); err != nil {
				return err
			}
			ours = append(ours, r)
			return nil
		}, func() error {
			if n > b.gmpMax {
				return nil
			}
			p, d, t, err := b.gmp.fac(b.ctx, n)
			gp, gd, gt = append(gp, p), append(gd, d), append(gt, t)
			return err
		})
		if err != nil {
			return err
		}
		total, product := make([]float64, len(ours)), make([]float64, len(ours))
		var peak, files int64
		for i, r := range ours {
			total[i], product[i] = r.Total, r.Product
			peak, files = max(peak, r.PeakRSS), max(files, r.FilesRSS)
		}
		digits := ours[0].Digits
		g := []string{"—", "—", "—", "—", "—"}
		if len(gp) > 0 {
			g = []string{minMed(gp), minMed(gd), minMed(gt), ratio(total, gp), ratio(total, gt)}
		}
		fmt.Fprintf(w, "| %d | %d | %s | %s | %s | %s | %s | %s | %s | %.1f | %.2f |\n", n, digits,
			minMed(total), minMed(product), g[0], g[1], g[2], g[3], g[4], float64(peak)/(1<<20), float64(peak)/float64(digits))
		executable = max(executable, files)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Times are min / median of the rounds; a ratio is of the medians. \"engine product\" is the time to the first digit written; the engine never converts from binary, so its total is its product plus the printing. Peak RSS is the engine child's VmHWM, Go runtime and executable included (of which the executable's own pages: at most %.1f MiB); text is one byte per digit.\n", float64(executable)/(1<<20))
	fmt.Fprintln(w)
	return nil
}

// sumResult is one warm sum of the engine, in seconds.
type sumResult struct {
	Append float64 `json:"append_s"`
	Write  float64 `json:"write_s"`
}

func (b *bench) sums(w io.Writer, bounds []uint64) error {
	fmt.Fprintln(w, "| warm sum over n = 1.. | engine AppendText s | engine Write s | GMP mpz_fac_ui + mpz_get_str s | AppendText / GMP | Write / GMP |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|")
	for _, bound := range bounds {
		var app, wr, g []float64
		err := b.both(func() error {
			var r sumResult
			if err := b.child("sum", bound, &r); err != nil {
				return err
			}
			app, wr = append(app, r.Append), append(wr, r.Write)
			return nil
		}, func() error {
			s, err := b.gmp.rangeSum(b.ctx, 1, bound)
			g = append(g, s)
			return err
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s |\n", bound, minMed(app), minMed(wr), minMed(g), ratio(app, g), ratio(wr, g))
	}
	fmt.Fprintln(w)
	return nil
}

// gridNs are the single n that the grid compares: every n up to 40, then about 8 per octave.
func gridNs() []uint64 {
	var ns []uint64
	for n := uint64(1); n <= 40; n++ {
		ns = append(ns, n)
	}
	for n := 40.0; n < 20_000; n *= 1.09 {
		ns = append(ns, uint64(n)+1)
	}
	return append(ns, 20_000)
}

// gridPasses is how many batches of each n the grid times (gmpwarm.c: the same).
const gridPasses = 30

// gridBatch is how many repetitions of n one batch times (gmpwarm.c: the same).
func gridBatch(n uint64) int {
	switch {
	case n < 100:
		return 200
	case n < 1000:
		return 40
	case n < 5000:
		return 5
	}
	return 1
}

// timeBatch calls f once to warm it, then times batch calls: seconds per call.
func timeBatch(f func(), batch int) float64 {
	f()
	start := time.Now()
	for range batch {
		f()
	}
	return time.Since(start).Seconds() / float64(batch)
}

// gridResult is the engine's best warm time of each n of the grid, in seconds.
type gridResult struct {
	Append []float64 `json:"append_s"`
	Write  []float64 `json:"write_s"`
}

func (b *bench) grid(w io.Writer) error {
	ns := gridNs()
	app, wr, g := make([]float64, len(ns)), make([]float64, len(ns)), make([]float64, len(ns))
	for i := range ns {
		app[i], wr[i], g[i] = 1e9, 1e9, 1e9
	}
	err := b.both(func() error {
		var r gridResult
		if err := b.child("grid", 0, &r); err != nil {
			return err
		}
		for i := range ns {
			app[i], wr[i] = min(app[i], r.Append[i]), min(wr[i], r.Write[i])
		}
		return nil
	}, func() error {
		s, err := b.gmp.warm(b.ctx, ns)
		for i := range s {
			g[i] = min(g[i], s[i])
		}
		return err
	})
	if err != nil {
		return err
	}
	worst := func(ours []float64) (float64, uint64) {
		var r float64
		var at uint64
		for i, n := range ns {
			if ours[i]/g[i] > r {
				r, at = ours[i]/g[i], n
			}
		}
		return r, at
	}
	ra, na := worst(app)
	rw, nw := worst(wr)
	fmt.Fprintf(w, "Single n, warm, best of 30 batches per round (one per pass over the grid) and of the rounds, %d values from 1 to 20,000 (every n up to 40, then steps of 9%%): the largest ratio to GMP (mpz_fac_ui + mpz_get_str, gmpwarm.c) is **%.2f for AppendText** (at n = %d) and **%.2f for Write** (at n = %d). A sample:\n\n", len(ns), ra, na, rw, nw)
	fmt.Fprintln(w, "| n | engine AppendText µs | engine Write µs | GMP µs | AppendText / GMP |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|")
	for i, n := range ns {
		if slices.Contains([]uint64{1, 10, 20, 21, 34, 35, 100}, n) || i%8 == 0 || i == len(ns)-1 || n == na || n == nw {
			fmt.Fprintf(w, "| %d | %.2f | %.2f | %.2f | %.2f |\n", n, app[i]*1e6, wr[i]*1e6, g[i]*1e6, app[i]/g[i])
		}
	}
	fmt.Fprintln(w)
	return nil
}

// child runs this program as a child for one measurement and decodes its JSON into v.
func (b *bench) child(kind string, n uint64, v any) error {
	b.calls++
	order := "append-first"
	if b.calls%2 == 0 {
		order = "write-first"
	}
	cmd := exec.CommandContext(b.ctx, b.self, "-child", kind, "-arg", strconv.FormatUint(n, 10), "-order", order)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("engine %s %d: %w", kind, n, err)
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("engine %s %d: %w", kind, n, err)
	}
	return nil
}

// measure runs one measurement in this process and prints it as JSON.
func measure(kind, arg, order string, stdout io.Writer) error {
	n, err := strconv.ParseUint(arg, 10, 64)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	switch kind {
	case "large":
		tw := &timingWriter{}
		start := time.Now()
		digits, err := factorial.Write(context.Background(), n, tw, nil)
		if err != nil {
			return err
		}
		end := time.Now()
		peak, files, err := peakRSS()
		if err != nil {
			return err
		}
		return enc.Encode(largeResult{Digits: digits, Product: tw.first.Sub(start).Seconds(),
			Total: end.Sub(start).Seconds(), PeakRSS: peak, FilesRSS: files})
	case "sum":
		// As gmprange: one computation of the largest first, then every n in order. The two
		// sums alternate which goes first from one round to the next (the parent's -arg2).
		buf := factorial.AppendText(nil, n)
		var r sumResult
		sumAppend := func() {
			start := time.Now()
			for i := uint64(1); i <= n; i++ {
				buf = factorial.AppendText(buf[:0], i)
			}
			r.Append = time.Since(start).Seconds()
		}
		sumWrite := func() error {
			start := time.Now()
			for i := uint64(1); i <= n; i++ {
				if _, err := factorial.Write(context.Background(), i, io.Discard, nil); err != nil {
					return err
				}
			}
			r.Write = time.Since(start).Seconds()
			return nil
		}
		if order == "write-first" {
			if err := sumWrite(); err != nil {
				return err
			}
			sumAppend()
		} else {
			sumAppend()
			if err := sumWrite(); err != nil {
				return err
			}
		}
		return enc.Encode(r)
	case "grid":
		// As gmpwarm.c: 30 passes over every n, each timing one batch of repetitions of each
		// n after a call that warms it, and each n's fastest batch. The batches of one n are
		// spread over the whole run rather than back to back, so that its best is not the
		// best of one moment: a VM's speed swings by tens of percent from one second to the
		// next, and one n measured only in a slow spell would stand out of the grid.
		ns := gridNs()
		var buf []byte
		r := gridResult{Append: make([]float64, len(ns)), Write: make([]float64, len(ns))}
		for i := range ns {
			r.Append[i], r.Write[i] = math.Inf(1), math.Inf(1)
		}
		for range gridPasses {
			for i, n := range ns {
				appendText := func() { buf = factorial.AppendText(buf[:0], n) }
				write := func() { _, _ = factorial.Write(context.Background(), n, io.Discard, nil) }
				r.Append[i] = min(r.Append[i], timeBatch(appendText, gridBatch(n)))
				r.Write[i] = min(r.Write[i], timeBatch(write, gridBatch(n)))
			}
		}
		return enc.Encode(r)
	}
	return fmt.Errorf("unknown measurement %q", kind)
}

// timingWriter discards what it is given and records when the first bytes came.
type timingWriter struct{ first time.Time }

func (w *timingWriter) Write(p []byte) (int, error) {
	if w.first.IsZero() {
		w.first = time.Now()
	}
	return len(p), nil
}

// peakRSS returns this process's peak resident set (VmHWM) and the resident pages of the
// files it maps (RssFile: its executable), in bytes.
func peakRSS() (peak, files int64, err error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok || (name != "VmHWM" && name != "RssFile") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if name == "VmHWM" {
			peak = kb << 10
		} else {
			files = kb << 10
		}
	}
	return peak, files, nil
}

// gmpPrograms are the GMP reference programs, compiled.
type gmpPrograms struct{ facPath, rangePath, warmPath string }

//go:embed c/gmpwarm.c
var gmpwarmSource []byte

// buildGMP compiles gmpfac.c and gmprange.c from shared/reference beside the repository.
func buildGMP(ctx context.Context) (gmpPrograms, error) {
	ref, err := referenceDir()
	if err != nil {
		return gmpPrograms{}, err
	}
	dir := filepath.Join(os.TempDir(), "factorial-bench-gmp")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return gmpPrograms{}, err
	}
	warm := filepath.Join(dir, "gmpwarm.c")
	if err := os.WriteFile(warm, gmpwarmSource, 0o644); err != nil {
		return gmpPrograms{}, err
	}
	var p gmpPrograms
	for _, prog := range []struct {
		src  string
		path *string
	}{{filepath.Join(ref, "gmpfac.c"), &p.facPath}, {filepath.Join(ref, "gmprange.c"), &p.rangePath}, {warm, &p.warmPath}} {
		*prog.path = filepath.Join(dir, strings.TrimSuffix(filepath.Base(prog.src), ".c"))
		cmd := exec.CommandContext(ctx, "cc", "-O2", "-o", *prog.path, prog.src, "-lgmp")
		if out, err := cmd.CombinedOutput(); err != nil {
			return gmpPrograms{}, fmt.Errorf("compiling %s (needs cc and libgmp-dev: apt-get install libgmp-dev): %w: %s", prog.src, err, out)
		}
	}
	return p, nil
}

// referenceDir returns shared/reference beside the repository root (the directory of go.work).
func referenceDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return filepath.Join(dir, "..", "shared", "reference"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root (go.work) not found above the working directory")
		}
		dir = parent
	}
}

// fac runs gmpfac for n and returns its product, decimal and total seconds.
func (p gmpPrograms) fac(ctx context.Context, n uint64) (product, decimal, total float64, err error) {
	fields, err := runFields(ctx, p.facPath, strconv.FormatUint(n, 10))
	if err != nil {
		return 0, 0, 0, err
	}
	return fields["product_s"], fields["decimal_s"], fields["total_s"], nil
}

// warm runs gmpwarm for ns and returns each one's seconds.
func (p gmpPrograms) warm(ctx context.Context, ns []uint64) ([]float64, error) {
	args := make([]string, len(ns))
	for i, n := range ns {
		args[i] = strconv.FormatUint(n, 10)
	}
	out, err := exec.CommandContext(ctx, p.warmPath, args...).Output()
	if err != nil {
		return nil, fmt.Errorf("gmpwarm: %w", err)
	}
	var s []float64
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		_, v, _ := strings.Cut(line, " s=")
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("gmpwarm printed %q", line)
		}
		s = append(s, x)
	}
	if len(s) != len(ns) {
		return nil, fmt.Errorf("gmpwarm printed %d times for %d n", len(s), len(ns))
	}
	return s, nil
}

// rangeSum runs gmprange from a to b and returns its sum_s.
func (p gmpPrograms) rangeSum(ctx context.Context, a, b uint64) (float64, error) {
	fields, err := runFields(ctx, p.rangePath, strconv.FormatUint(a, 10), strconv.FormatUint(b, 10))
	return fields["sum_s"], err
}

// runFields runs a program and returns the numbers of its key=value output.
func runFields(ctx context.Context, path string, args ...string) (map[string]float64, error) {
	out, err := exec.CommandContext(ctx, path, args...).Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", filepath.Base(path), strings.Join(args, " "), err)
	}
	fields := make(map[string]float64)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		for _, f := range strings.Fields(sc.Text()) {
			if k, v, ok := strings.Cut(f, "="); ok {
				if x, err := strconv.ParseFloat(v, 64); err == nil {
					fields[k] = x
				}
			}
		}
	}
	return fields, nil
}

// minMed formats the minimum and median of xs.
func minMed(xs []float64) string {
	return fmt.Sprintf("%s / %s", short(slices.Min(xs)), short(median(xs)))
}

// ratio formats the ratio of the medians of a and b.
func ratio(a, b []float64) string {
	return fmt.Sprintf("%.2f", median(a)/median(b))
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// short formats seconds with four significant digits.
func short(s float64) string { return strconv.FormatFloat(s, 'g', 4, 64) }

func parseList(s string) ([]uint64, error) {
	var ns []uint64
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, err
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// cpuModel returns the CPU's model name.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// loadAverage returns the 1, 5 and 15-minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
