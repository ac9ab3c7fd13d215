package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// result is one load run: requests per second and latency percentiles, and the CPU time per
// request of the server and of the load generator (set by the caller).
type result struct {
	rps           float64
	p50, p99      time.Duration
	errors        int
	requests      int
	cpu, generate time.Duration
}

// builtinLoad is the load generator make bench-http uses where wrk is not installed, so that
// it needs nothing: it sends GET path from conns keep-alive connections, each one request at
// a time, raw requests written once, responses read with one buffer per connection, latencies
// kept in a slice per connection. Its goroutines share the cores with the server's under the
// Go scheduler, which puts more of the answers than wrk does behind a wait for a core (a
// 4 ms tick here): its p99 says that more than it says what the server does.
type builtinLoad struct{}

func (builtinLoad) String() string { return "the built-in Go load generator" }

// load loads addr for d; the result's generate is this process's CPU time meanwhile.
func (builtinLoad) load(addr, path string, conns int, d time.Duration) (result, error) {
	cpu0 := selfCPU()
	res, err := loadGo(addr, path, conns, d)
	res.generate = selfCPU() - cpu0
	return res, err
}

func loadGo(addr, path string, conns int, d time.Duration) (result, error) {
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench-http\r\n\r\n")
	type worker struct {
		lat  []time.Duration
		errs int
		err  error
	}
	workers := make([]worker, conns)
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(d)
	for i := range workers {
		w := &workers[i]
		w.lat = make([]time.Duration, 0, 1<<16)
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				w.err = err
				return
			}
			defer c.Close()
			r := bufio.NewReaderSize(c, 64<<10)
			for {
				t0 := time.Now()
				if !t0.Before(stop) {
					return
				}
				if _, err := c.Write(req); err != nil {
					w.err = err
					return
				}
				status, err := readResponse(r)
				if err != nil {
					w.err = err
					return
				}
				w.lat = append(w.lat, time.Since(t0))
				if status != 200 {
					w.errs++
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	res := result{}
	for _, w := range workers {
		if w.err != nil {
			return result{}, w.err
		}
		all = append(all, w.lat...)
		res.errors += w.errs
	}
	if len(all) == 0 {
		return result{}, errors.New("no request answered")
	}
	slices.Sort(all)
	res.requests = len(all)
	res.rps = float64(len(all)) / elapsed.Seconds()
	res.p50 = all[len(all)/2]
	res.p99 = all[len(all)*99/100]
	return res, nil
}

var (
	crlf          = []byte("\r\n")
	contentLength = []byte("content-length:")
	chunked       = []byte("transfer-encoding: chunked")
)

// readResponse reads one HTTP/1.1 response and discards its body; it returns the status.
func readResponse(r *bufio.Reader) (int, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, err
	}
	length, isChunked := int64(-1), false
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if bytes.Equal(line, crlf) {
			break
		}
		line = bytes.TrimRight(line, "\r\n")
		if hasPrefixFold(line, contentLength) {
			if length, err = strconv.ParseInt(string(bytes.TrimSpace(line[len(contentLength):])), 10, 64); err != nil {
				return 0, err
			}
		} else if bytes.EqualFold(line, chunked) {
			isChunked = true
		}
	}
	switch {
	case isChunked:
		return status, skipChunks(r)
	case length >= 0:
		_, err = r.Discard(int(length))
		return status, err
	}
	return 0, errors.New("a response without a length")
}

// hasPrefixFold is bytes.HasPrefix without regard to case, and without allocating: the
// generator reads every header line of every answer, and its CPU is shared with the server's.
func hasPrefixFold(s, prefix []byte) bool {
	return len(s) >= len(prefix) && bytes.EqualFold(s[:len(prefix)], prefix)
}

func skipChunks(r *bufio.Reader) error {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil {
			return err
		}
		if _, err := r.Discard(int(size) + 2); err != nil {
			return err
		}
		if size == 0 {
			return nil
		}
	}
}

// processCPU is the CPU time (user and system) pid has used so far, its threads that ended
// included, as /proc counts it (in clock ticks of 10 ms).
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The name (field 2) is in parentheses and may hold spaces: count from after it.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks int64
	for _, v := range f[11:13] { // utime, stime: fields 14 and 15
		t, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += t
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil // USER_HZ is 100 on Linux
}

// selfCPU is the CPU time this process (the load generator) has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
