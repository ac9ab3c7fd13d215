// Command bench-compute times the factorial engine against GMP and math/big and prints one
// markdown table.
//
//	go run ./cmd/bench-compute [-n 10000,100000,1000000,10000000] [-runs 1]
//
// Each measurement runs in a child process of this program (started with -child), so that its
// peak memory is the child's peak resident set size (getrusage ru_maxrss), free of the parent's
// and of the other runs' memory. "product" is the time until the first digit reaches the
// writer and "decimal" the time from there to the last digit; for GMP they are mpz_fac_ui and
// mpz_get_str, as printed by shared/reference/gmp-reference.sh, found beside the repository.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
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

// mathBigMax is the largest n for which the math/big baseline is run (it is slow beyond).
const mathBigMax = 1_000_000

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench-compute", flag.ContinueOnError)
	list := fs.String("n", "10000,100000,1000000,10000000", "comma-separated values of n")
	runs := fs.Int("runs", 1, "runs per measurement; the fastest is kept")
	child := fs.String("child", "", "internal: run one measurement (engine or mathbig) and print it as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var ns []uint64
	for _, s := range strings.Split(*list, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return fmt.Errorf("bad -n value %q: %w", s, err)
		}
		ns = append(ns, n)
	}
	if *child != "" {
		return measureHere(ctx, *child, ns[0], stdout)
	}

	gmp := gmpScript()
	fmt.Fprintln(stdout, "| n | digits | product s | decimal s | total s | peak RSS MiB | RSS / text | GMP total s | ours / GMP | math/big total s | math/big / ours |")
	fmt.Fprintln(stdout, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, n := range ns {
		ours, err := measureChild(ctx, "engine", n, *runs)
		if err != nil {
			return err
		}
		gmpCol, gmpRatio := "n/a", "n/a"
		if g, err := runGMP(ctx, gmp, n); err == nil {
			gmpCol, gmpRatio = fmt.Sprintf("%.3f", g), fmt.Sprintf("%.2f", ours.Total/g)
		} else {
			fmt.Fprintln(os.Stderr, "bench-compute: GMP:", err)
		}
		bigCol, bigRatio := "skipped", "skipped"
		if n <= mathBigMax {
			b, err := measureChild(ctx, "mathbig", n, *runs)
			if err != nil {
				return err
			}
			bigCol, bigRatio = fmt.Sprintf("%.3f", b.Total), fmt.Sprintf("%.1f", b.Total/ours.Total)
		}
		rss := float64(ours.MaxRSS) / (1 << 20)
		fmt.Fprintf(stdout, "| %d | %d | %.3f | %.3f | %.3f | %.1f | %.2f | %s | %s | %s | %s |\n",
			n, ours.Digits, ours.Product, ours.Decimal, ours.Total, rss,
			float64(ours.MaxRSS)/float64(ours.Digits), gmpCol, gmpRatio, bigCol, bigRatio)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "Peak RSS is the child process's getrusage ru_maxrss (Go runtime included); text is the decimal text, one byte per digit.")
	return nil
}

// result is one measurement, in seconds and bytes.
type result struct {
	Digits  int64   `json:"digits"`
	Product float64 `json:"product_s"`
	Decimal float64 `json:"decimal_s"`
	Total   float64 `json:"total_s"`
	MaxRSS  int64   `json:"max_rss"`
}

// measureChild runs one measurement in runs child processes and keeps the fastest, with the
// largest peak memory.
func measureChild(ctx context.Context, kind string, n uint64, runs int) (result, error) {
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	var best result
	for i := range max(runs, 1) {
		cmd := exec.CommandContext(ctx, self, "-child", kind, "-n", strconv.FormatUint(n, 10))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return result{}, fmt.Errorf("%s n=%d: %w", kind, n, err)
		}
		var r result
		if err := json.Unmarshal(out, &r); err != nil {
			return result{}, fmt.Errorf("%s n=%d: %w", kind, n, err)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.MaxRSS = ru.Maxrss << 10 // kilobytes on Linux
		}
		if i == 0 || r.Total < best.Total {
			r.MaxRSS = max(r.MaxRSS, best.MaxRSS)
			best = r
		} else {
			best.MaxRSS = max(best.MaxRSS, r.MaxRSS)
		}
	}
	return best, nil
}

// measureHere runs one measurement in this process and prints it as JSON.
func measureHere(ctx context.Context, kind string, n uint64, stdout io.Writer) error {
	w := &timingWriter{}
	start := time.Now()
	var digits int64
	switch kind {
	case "engine":
		d, err := factorial.Write(ctx, n, w, nil)
		if err != nil {
			return err
		}
		digits = d
	case "mathbig":
		var x big.Int
		x.MulRange(1, int64(n))
		w.first = time.Now() // math/big's product ends here; Text(10) is its decimal part
		m, err := io.WriteString(w, x.Text(10))
		if err != nil {
			return err
		}
		digits = int64(m)
	default:
		return fmt.Errorf("unknown measurement %q", kind)
	}
	end := time.Now()
	return json.NewEncoder(stdout).Encode(result{
		Digits:  digits,
		Product: w.first.Sub(start).Seconds(),
		Decimal: end.Sub(w.first).Seconds(),
		Total:   end.Sub(start).Seconds(),
	})
}

// timingWriter discards what it is given and records when the first bytes came.
type timingWriter struct{ first time.Time }

func (w *timingWriter) Write(p []byte) (int, error) {
	if w.first.IsZero() {
		w.first = time.Now()
	}
	return len(p), nil
}

// gmpScript returns the path of the GMP reference script: shared/ beside the repository root,
// the directory holding go.work above the working directory.
func gmpScript() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return filepath.Join(dir, "..", "shared", "reference", "gmp-reference.sh")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// runGMP runs the GMP reference for n and returns its total seconds.
func runGMP(ctx context.Context, script string, n uint64) (float64, error) {
	if script == "" {
		return 0, errors.New("repository root (go.work) not found")
	}
	if _, err := os.Stat(script); err != nil {
		return 0, err
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", script, strconv.FormatUint(n, 10))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	// The script prints: gmp n=N digits=D product_s=P decimal_s=S total_s=T
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		for _, field := range strings.Fields(sc.Text()) {
			if v, ok := strings.CutPrefix(field, "total_s="); ok {
				return strconv.ParseFloat(v, 64)
			}
		}
	}
	return 0, fmt.Errorf("no total_s in GMP output %q", out)
}
