package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// client talks HTTP to one service. It never asks for gzip, so tests see the bytes and the
// ETag the service sends for plain text.
type client struct {
	base string
	http *http.Client
}

func newClient(base string) *client {
	return &client{base: base, http: &http.Client{
		Timeout:   45 * time.Second, // above the longest ?wait
		Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64},
	}}
}

// response is an HTTP response read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (c *client) do(method, path, accept, body string) (response, error) {
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

func (c *client) post(n int64) (response, error) {
	return c.do(http.MethodPost, "/api/v1/factorial", "", fmt.Sprintf(`{"number": %d}`, n))
}

func (c *client) get(path, accept string) (response, error) {
	return c.do(http.MethodGet, path, accept, "")
}

// factorialJSON is the part of the API's factorial resource the tests read.
type factorialJSON struct {
	Number          int64   `json:"number"`
	Status          string  `json:"status"`
	FactorialResult *string `json:"factorial_result"`
	Digits          int64   `json:"digits"`
	Size            int64   `json:"size"`
	Checksum        string  `json:"checksum"`
	Error           string  `json:"error"`
}

// metadataJSON is the part of the metadata resource the tests read.
type metadataJSON struct {
	Number   int64  `json:"number"`
	Status   string `json:"status"`
	S3Key    string `json:"s3_key"`
	Bucket   string `json:"bucket"`
	Checksum string `json:"checksum"`
	Size     int64  `json:"size"`
	Digits   int64  `json:"digits"`

	DownloadURL string `json:"download_url"`
}

func decode[T any](r response) (T, error) {
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		return v, fmt.Errorf("body is not the JSON expected (%v): %.200s", err, r.body)
	}
	return v, nil
}

// scrape reads a Prometheus text page into sample -> value, the sample written as on the
// page (name{labels}).
func (c *client) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	r, err := c.get("/metrics", "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusOK {
		t.Fatalf("GET %s/metrics: %d", c.base, r.status)
	}
	samples := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(r.body)))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			samples[line[:i]] = v
		}
	}
	return samples
}
