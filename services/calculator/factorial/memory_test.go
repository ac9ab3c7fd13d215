//go:build linux

package factorial

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// memoryChildEnv makes the test binary compute one factorial and exit (see TestMain), so that
// its peak resident set is the engine's, measured from outside by the parent.
const memoryChildEnv = "FACTORIAL_MEMORY_CHILD"

func TestMain(m *testing.M) {
	if s := os.Getenv(memoryChildEnv); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err == nil {
			_, err = Write(context.Background(), n, io.Discard, nil)
		}
		var peak int64
		if err == nil {
			peak, err = peakRSS()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(peak)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestPeakMemoryUnderThreeTimesTheText computes n! in a child process and checks its peak
// resident set size (Go runtime and heap included) against three bytes per digit. The child
// reports its own peak (VmHWM): getrusage's ru_maxrss for a child can be the parent's, since
// the child shares the parent's memory from the fork until it executes the program. The pages
// of the executable file itself (RssFile) are left out: they measure the test binary, several
// megabytes when the kernel maps its code in huge pages, not the computation.
// FACTORIAL_MEMORY_N (comma-separated) replaces the sizes, e.g. 50000000,100000000.
func TestPeakMemoryUnderThreeTimesTheText(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector multiplies memory use")
	}
	ns := []uint64{1_000_000, 3_000_000}
	if testing.Short() {
		ns = ns[:1]
	}
	if s := os.Getenv("FACTORIAL_MEMORY_N"); s != "" {
		ns = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				t.Fatalf("FACTORIAL_MEMORY_N: %v", err)
			}
			ns = append(ns, n)
		}
	}
	for _, n := range ns {
		t.Run(strconv.FormatUint(n, 10), func(t *testing.T) {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), memoryChildEnv+"="+strconv.FormatUint(n, 10))
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("child: %v", err)
			}
			peak, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
			if err != nil {
				t.Fatalf("child printed %q: %v", out, err)
			}
			text := digitsOf(n)
			ratio := float64(peak) / float64(text)
			t.Logf("n=%d: peak RSS (less the executable) %.1f MiB for %d digits: %.2f bytes per digit", n, float64(peak)/(1<<20), text, ratio)
			if ratio > 3 {
				t.Errorf("peak RSS is %.2f times the text, want at most 3", ratio)
			}
		})
	}
}

// digitsOf returns the number of decimal digits of n!, give or take one.
func digitsOf(n uint64) int64 {
	lg, _ := math.Lgamma(float64(n) + 1)
	return int64(lg/math.Ln10) + 1
}

// peakRSS returns the peak resident set size of this process in bytes (VmHWM), less the
// resident pages of files it maps (RssFile, which holds the executable and only grows).
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	field := func(name string) (int64, error) {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, name+":"); ok {
				kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				return kb << 10, err
			}
		}
		return 0, fmt.Errorf("no %s in /proc/self/status", name)
	}
	peak, err := field("VmHWM")
	if err != nil {
		return 0, err
	}
	files, err := field("RssFile")
	return peak - files, err
}
