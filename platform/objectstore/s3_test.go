package objectstore_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/factorial-service/factorial/platform/objectstore"
)

// fakeS3 is gofakes3 served over real HTTP, counting the requests that matter to the tests.
type fakeS3 struct {
	srv *httptest.Server

	mu       sync.Mutex
	parts    int // UploadPart requests
	aborts   int // AbortMultipartUpload requests
	gets     int // GetObject requests
	produced func() int64
	// producedAtFirstPart is how much the uploaded reader had produced when the first
	// UploadPart request arrived (set when produced is not nil).
	producedAtFirstPart int64
	// intercept, when set, sees each request first; true: it answered (or stalled) it.
	intercept func(w http.ResponseWriter, r *http.Request) bool
}

func newFakeS3(t *testing.T) *fakeS3 {
	t.Helper()
	f := &fakeS3{}
	h := gofakes3.New(s3mem.New()).Server()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f.mu.Lock()
		switch {
		case r.Method == http.MethodPut && q.Has("partNumber"):
			f.parts++
			if f.parts == 1 && f.produced != nil {
				f.producedAtFirstPart = f.produced()
			}
		case r.Method == http.MethodDelete && q.Has("uploadId"):
			f.aborts++
		case r.Method == http.MethodGet && strings.Count(strings.Trim(r.URL.Path, "/"), "/") > 0 && len(q) <= 1:
			f.gets++
		}
		intercept := f.intercept
		f.mu.Unlock()
		if intercept != nil && intercept(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeS3) counts() (parts, aborts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.parts, f.aborts
}

// config returns the settings of a fresh bucket on f, with static test credentials.
func (f *fakeS3) config() objectstore.S3Config {
	return objectstore.S3Config{
		Bucket:         "test-" + strings.ToLower(rand.Text()[:12]),
		Endpoint:       f.srv.URL,
		Region:         "us-east-1",
		ForcePathStyle: true,
		Credentials:    credentials.NewStaticCredentialsProvider("test-key", "test-secret", ""),
		PartSize:       5 << 20,
	}
}

// isolateAWSEnv keeps the developer's AWS files and instance metadata out of the tests.
func isolateAWSEnv(t *testing.T) {
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
}

func newS3(t *testing.T, cfg objectstore.S3Config) *objectstore.S3 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := objectstore.EnsureBucket(ctx, cfg); err != nil {
		t.Fatalf("EnsureBucket: %v", err)
	}
	s, err := objectstore.NewS3(ctx, cfg)
	if err != nil {
		t.Fatalf("NewS3: %v", err)
	}
	return s
}

func TestS3Contract(t *testing.T) {
	isolateAWSEnv(t)
	f := newFakeS3(t)
	runContract(t, func(t *testing.T) objectstore.Store { return newS3(t, f.config()) })
}

func TestS3UploadsInPartsWhileReading(t *testing.T) {
	isolateAWSEnv(t)
	f := newFakeS3(t)
	s := newS3(t, f.config())
	const size = 40 << 20
	var produced atomic.Int64
	f.mu.Lock()
	f.produced = produced.Load
	f.mu.Unlock()
	r := &observedReader{r: newGenReader(size), n: &produced}
	if _, err := s.Put(t.Context(), "big.txt", r); err != nil {
		t.Fatalf("Put: %v", err)
	}
	parts, aborts := f.counts()
	if parts != size/(5<<20) || aborts != 0 {
		t.Errorf("%d parts and %d aborts, want %d parts, no abort", parts, aborts, size/(5<<20))
	}
	// Before the first part reached the server, the uploader may have read at most the
	// parts it buffers (first part, Concurrency+1 pooled parts): never the whole object.
	if f.producedAtFirstPart > 4*(5<<20) {
		t.Errorf("%d of %d bytes read before the first part was sent: the upload buffers", f.producedAtFirstPart, size)
	}
	if got := mustReadSum(t, s, "big.txt"); string(got) != string(genSum(size)) {
		t.Error("content read back differs")
	}
}

func TestS3FailedUploadIsAborted(t *testing.T) {
	isolateAWSEnv(t)
	tests := []struct {
		name    string
		put     func(s *objectstore.S3) error
		wantErr error
	}{
		{
			name: "reader error",
			put: func(s *objectstore.S3) error {
				_, err := s.Put(t.Context(), "x.txt", io.MultiReader(newGenReader(12<<20), failingReader{errBoom}))
				return err
			},
			wantErr: errBoom,
		},
		{
			name: "context cancelled",
			put: func(s *objectstore.S3) error {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				_, err := s.Put(ctx, "x.txt", &cancelAfter{r: newGenReader(20 << 20), n: 11 << 20, cancel: cancel})
				return err
			},
			wantErr: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeS3(t)
			s := newS3(t, f.config())
			if err := tt.put(s); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Put = %v, want %v", err, tt.wantErr)
			}
			parts, aborts := f.counts()
			if parts == 0 || aborts != 1 {
				t.Errorf("%d parts sent and %d aborts, want some parts and one abort", parts, aborts)
			}
			if n := objectstore.PendingUploads(t, s); n != 0 {
				t.Errorf("%d multipart uploads left open", n)
			}
			assertAbsent(t, s, "x.txt")
		})
	}
}

func TestS3ReaderSeeksWithoutRequests(t *testing.T) {
	isolateAWSEnv(t)
	f := newFakeS3(t)
	s := newS3(t, f.config())
	mustPut(t, s, "lazy.txt", "0123456789")
	gets := func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.gets }
	r, err := s.Open(t.Context(), "lazy.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, off := range []int64{0, 5, 3} {
		if _, err := r.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Seek(0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	if n := gets(); n != 0 {
		t.Fatalf("%d GetObject requests after Open and Seeks, want 0", n)
	}
	if _, err := r.Seek(4, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 2)
	for range 3 {
		if _, err := io.ReadFull(r, b); err != nil {
			t.Fatal(err)
		}
	}
	if string(b) != "89" || gets() != 1 {
		t.Errorf("read %q with %d GetObject requests, want \"89\" with 1", b, gets())
	}
}

func TestS3PresignGet(t *testing.T) {
	isolateAWSEnv(t)
	s := newS3(t, newFakeS3(t).config())
	mustPut(t, s, "p/10.txt", "3628800")
	var p objectstore.Presigner = s
	u, err := p.PresignGet(t.Context(), "p/10.txt", 15*time.Minute)
	if err != nil {
		t.Fatalf("PresignGet: %v", err)
	}
	if !strings.Contains(u, "X-Amz-Signature=") || !strings.Contains(u, "X-Amz-Expires=900") {
		t.Errorf("URL %q is not a presigned URL valid 900 s", u)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "3628800" {
		t.Errorf("GET presigned URL = %d %q, want 200 3628800", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain for a .txt key", ct)
	}
	if _, err := p.PresignGet(t.Context(), "p/10.txt", 0); err == nil {
		t.Error("PresignGet with ttl 0 succeeded")
	}
}

func TestS3PresignGetUsesThePublicEndpoint(t *testing.T) {
	isolateAWSEnv(t)
	f := newFakeS3(t)
	cfg := f.config()
	// The same server under another name, as a compose stack's host sees its S3 container.
	cfg.PublicEndpoint = strings.Replace(f.srv.URL, "127.0.0.1", "localhost", 1)
	s := newS3(t, cfg)
	mustPut(t, s, "p/10.txt", "3628800")
	u, err := s.PresignGet(t.Context(), "p/10.txt", time.Minute)
	if err != nil {
		t.Fatalf("PresignGet: %v", err)
	}
	if want := cfg.PublicEndpoint + "/" + cfg.Bucket + "/p/10.txt?"; !strings.HasPrefix(u, want) {
		t.Errorf("URL %q does not start with %q", u, want)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || string(body) != "3628800" {
		t.Errorf("GET presigned URL = %d %q, want 200 3628800", resp.StatusCode, body)
	}
	// Everything else still goes to S3Config.Endpoint.
	f.srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping succeeded with the S3_ENDPOINT server closed")
	}
}

func TestS3UsesTheStandardCredentialChain(t *testing.T) {
	isolateAWSEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "env-key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
	cfg := newFakeS3(t).config()
	cfg.Credentials = nil
	cfg.Region = ""
	s := newS3(t, cfg)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestNewS3Errors(t *testing.T) {
	isolateAWSEnv(t)
	f := newFakeS3(t)
	tests := []struct {
		name   string
		modify func(*objectstore.S3Config)
		want   string
	}{
		{"missing bucket name", func(c *objectstore.S3Config) { c.Bucket = "" }, "S3_BUCKET is required"},
		{"bucket does not exist", func(*objectstore.S3Config) {}, "does not exist"},
		{"endpoint not a URL", func(c *objectstore.S3Config) { c.Endpoint = "localhost:9000" }, "S3_ENDPOINT"},
		{"public endpoint not a URL", func(c *objectstore.S3Config) { c.PublicEndpoint = "localhost:7070" }, "S3_PUBLIC_ENDPOINT"},
		{"part size too small", func(c *objectstore.S3Config) { c.PartSize = 1 << 20 }, "5 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := f.config()
			tt.modify(&cfg)
			_, err := objectstore.NewS3(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewS3 = %v, want an error containing %q", err, tt.want)
			}
			if cfg.PartSize == 5<<20 && !strings.Contains(err.Error(), "S3_") {
				t.Errorf("error %q does not name the variable", err)
			}
		})
	}
}

func TestS3PingFailsWhenUnreachable(t *testing.T) {
	isolateAWSEnv(t)
	f := newFakeS3(t)
	s := newS3(t, f.config())
	if err := objectstore.EnsureBucket(t.Context(), f.config()); err != nil {
		t.Fatalf("EnsureBucket on a second bucket: %v", err)
	}
	f.srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err == nil || !strings.Contains(err.Error(), "S3_BUCKET") {
		t.Fatalf("Ping = %v, want an error naming S3_BUCKET", err)
	}
}

func mustReadSum(t *testing.T, s objectstore.Store, key string) []byte {
	t.Helper()
	r, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return h.Sum(nil)
}

// observedReader publishes how many bytes have been read through it.
type observedReader struct {
	r io.Reader
	n *atomic.Int64
}

func (o *observedReader) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	o.n.Add(int64(n))
	return n, err
}

// An S3 that stops answering fails reads with ErrNoAnswer within the bounds, rather than
// holding them (and the HTTP requests above them) as long as the connection lives.
func TestS3ReadsFailWhenTheStoreStopsAnswering(t *testing.T) {
	isolateAWSEnv(t)
	f := newFakeS3(t)
	s := newS3(t, f.config())
	objectstore.SetReadBounds(s, 300*time.Millisecond, 300*time.Millisecond)
	text := strings.Repeat("0123456789", 10_000)
	mustPut(t, s, "digits.txt", text)
	intercept := func(fn func(w http.ResponseWriter, r *http.Request) bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.intercept = fn
	}
	hang := func(w http.ResponseWriter, r *http.Request) bool { <-r.Context().Done(); return true }
	within := func(t *testing.T, what string, start time.Time, err error) {
		t.Helper()
		if !errors.Is(err, objectstore.ErrNoAnswer) || errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v, want ErrNoAnswer (and not context.Canceled, which means the caller left)", what, err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("%s took %v", what, took)
		}
	}

	// Open's HeadObject gets no answer.
	intercept(func(w http.ResponseWriter, r *http.Request) bool { return r.Method == http.MethodHead && hang(w, r) })
	start := time.Now()
	_, err := s.Open(t.Context(), "digits.txt")
	within(t, "Open", start, err)

	// The GET gets no answer.
	intercept(nil)
	r, err := s.Open(t.Context(), "digits.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	intercept(func(w http.ResponseWriter, r *http.Request) bool { return r.Method == http.MethodGet && hang(w, r) })
	start = time.Now()
	_, err = r.Read(make([]byte, 10))
	within(t, "a Read whose GET is not answered", start, err)

	// The body stops flowing after its first bytes.
	intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet {
			return false
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(text)))
		w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(text)-1, len(text)))
		w.WriteHeader(http.StatusPartialContent)
		_, _ = io.WriteString(w, text[:1000])
		w.(http.Flusher).Flush()
		return hang(w, r)
	})
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	got, err := io.ReadAll(r)
	within(t, "reading a body that stalls", start, err)
	if string(got) != text[:1000] {
		t.Errorf("read %d bytes before the stall, want the 1000 sent", len(got))
	}

	// Answering again, the same reader goes on from where it is.
	intercept(nil)
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || string(got) != text {
		t.Errorf("read again: %d bytes, %v", len(got), err)
	}
}

// An upload to an S3 that stops answering fails once its connection has been silent for
// S3Config.Silence (the SDK's rolling read timeout), rather than hang: the calculator's
// heartbeats would otherwise keep its claim alive for as long as the connection lives.
func TestS3UploadFailsWhenTheStoreStopsAnswering(t *testing.T) {
	isolateAWSEnv(t)
	f := newFakeS3(t)
	cfg := f.config()
	cfg.Silence = 200 * time.Millisecond
	s := newS3(t, cfg)
	f.mu.Lock()
	f.intercept = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPut {
			return false
		}
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done() // the request read, never answered
		return true
	}
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err := s.Put(ctx, "silent.txt", strings.NewReader("0123456789"))
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Put to a silent store: %v after %v (the test's own deadline: %v), want it to fail on its own",
			err, time.Since(start).Round(time.Millisecond), ctx.Err())
	}
	t.Logf("Put failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
}

// The time a connection waits in the pool counts toward its silence (net/http reads idle
// connections too), so the pool drops it after a quarter of S3Config.Silence: a call on a
// connection reused after idling has most of the silence left, and a slow answer is not cut
// (and sent again) for the time the connection sat idle.
func TestS3SlowAnswerOnAReusedConnectionIsNotCut(t *testing.T) {
	isolateAWSEnv(t)
	f := newFakeS3(t)
	cfg := f.config()
	cfg.Silence = 800 * time.Millisecond
	s := newS3(t, cfg)
	mustPut(t, s, "first.txt", "1")
	time.Sleep(600 * time.Millisecond) // idle in the pool: 3/4 of the silence
	var puts atomic.Int32
	f.mu.Lock()
	f.intercept = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut {
			puts.Add(1)
			time.Sleep(400 * time.Millisecond) // a slow answer, within the silence
		}
		return false
	}
	f.mu.Unlock()
	mustPut(t, s, "second.txt", "2")
	if n := puts.Load(); n != 1 {
		t.Errorf("%d PUT requests for one Put: the slow answer was cut (the pooled connection's idle time counted)", n)
	}
}
