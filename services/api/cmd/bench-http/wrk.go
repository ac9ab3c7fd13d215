package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// wrkScript makes wrk print, when done, the one line wrkLoad reads: requests, duration and the
// 50th and 99th percentiles of latency (µs), answers that were not 2xx or 3xx, socket errors.
const wrkScript = `done = function(s, latency, requests)
  local e = s.errors
  io.write(string.format("bench-http %d %d %.0f %.0f %d %d\n", s.requests, s.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
`

// wrkLoad loads with wrk (Debian's package: the tool the issue's own figures were taken
// with), on half the cores (at least one thread), so that the server has the rest: a C event
// loop whose own latency does not depend on a Go runtime sharing the cores with the server's.
type wrkLoad struct {
	bin, script string
	threads     int
}

// newWrkLoad finds wrk on PATH and writes its script into dir.
func newWrkLoad(dir string) (*wrkLoad, error) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		return nil, err
	}
	script := dir + "/bench-http.lua"
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return nil, err
	}
	return &wrkLoad{bin: bin, script: script, threads: max(1, runtime.NumCPU()/2)}, nil
}

func (w *wrkLoad) String() string { return fmt.Sprintf("wrk -t%d (%s)", w.threads, w.bin) }

// load runs wrk for d (whole seconds, at least one) from conns connections; the result's
// generate is wrk's whole CPU time.
func (w *wrkLoad) load(addr, path string, conns int, d time.Duration) (result, error) {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cmd := exec.Command(w.bin, "-t", strconv.Itoa(min(w.threads, conns)), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(secs)+"s", "-s", w.script, "http://"+addr+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var requests, micros, p50, p99, status, sockets int64
	found := false
	for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
		if _, err := fmt.Sscanf(sc.Text(), "bench-http %d %d %d %d %d %d", &requests, &micros, &p50, &p99, &status, &sockets); err == nil {
			found = true
		}
	}
	switch {
	case !found:
		return result{}, fmt.Errorf("wrk printed no summary: %s", strings.TrimSpace(string(out)))
	case sockets > 0:
		return result{}, fmt.Errorf("wrk: %d socket errors", sockets)
	case requests == 0:
		return result{}, fmt.Errorf("wrk: no request answered")
	}
	return result{
		rps:      float64(requests) / (time.Duration(micros) * time.Microsecond).Seconds(),
		p50:      time.Duration(p50) * time.Microsecond,
		p99:      time.Duration(p99) * time.Microsecond,
		errors:   int(status),
		requests: int(requests),
		generate: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(),
	}, nil
}
