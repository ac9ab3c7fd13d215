package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/factorial-service/factorial/events"
	"github.com/factorial-service/factorial/platform/objectstore"
	"github.com/factorial-service/factorial/platform/testenv"
)

// Credentials and region of the S3 server (its root user).
const (
	s3AccessKey = "integration-test-key"
	s3SecretKey = "integration-test-secret"
	s3Region    = "us-east-1"
)

// s3Server is Versity S3 Gateway on its posix backend in a temporary directory, run as a
// process of its own: bin/versitygw, built by `make tools` at the version the compose stack
// runs. It holds one bucket of this run.
type s3Server struct {
	endpoint string // as the services reach it
	public   string // the same server under another host name, for presigned URLs (S3_PUBLIC_ENDPOINT)
	bucket   string
	client   *s3.Client
}

func newS3Server(t *testing.T) *s3Server {
	t.Helper()
	bin := testenv.Tool(t, "versitygw")
	dir := t.TempDir() // before start: removed after the process is killed
	addr := freeAddr(t)
	p := start(t, "versitygw", bin, []string{
		"ROOT_ACCESS_KEY_ID=" + s3AccessKey,
		"ROOT_SECRET_ACCESS_KEY=" + s3SecretKey,
	}, "--port", addr, "--region", s3Region, "--health", "/health", "--quiet", "posix", dir)
	f := &s3Server{endpoint: "http://" + addr, bucket: randomName("factorial-it-")}
	f.public = strings.Replace(f.endpoint, "127.0.0.1", "localhost", 1)
	client := &http.Client{Timeout: 2 * time.Second}
	eventually(t, readyTimeout, "versitygw answers /health", func() error {
		if !p.running() {
			t.Fatalf("versitygw exited (%v)", p.err)
		}
		resp, err := client.Get(f.endpoint + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	creds := credentials.NewStaticCredentialsProvider(s3AccessKey, s3SecretKey, "")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := objectstore.EnsureBucket(ctx, objectstore.S3Config{
		Bucket: f.bucket, Endpoint: f.endpoint, Region: s3Region, ForcePathStyle: true, Credentials: creds,
	})
	if err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	f.client = s3.New(s3.Options{
		BaseEndpoint: aws.String(f.endpoint),
		Region:       s3Region,
		UsePathStyle: true,
		Credentials:  creds,
	})
	return f
}

// env is the storage settings of the services.
func (f *s3Server) env() []string {
	return []string{
		"STORAGE=s3",
		"S3_BUCKET=" + f.bucket,
		"S3_ENDPOINT=" + f.endpoint,
		"S3_PUBLIC_ENDPOINT=" + f.public,
		"S3_REGION=" + s3Region,
		"S3_FORCE_PATH_STYLE=true",
		"AWS_ACCESS_KEY_ID=" + s3AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s3SecretKey,
	}
}

// objects lists the bucket: key to size.
func (f *s3Server) objects(t *testing.T) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	p := s3.NewListObjectsV2Paginator(f.client, &s3.ListObjectsV2Input{Bucket: aws.String(f.bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("list bucket %s: %v", f.bucket, err)
		}
		for _, o := range page.Contents {
			out[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
		}
	}
	return out
}

// redisCache is the Redis of TEST_REDIS_URL, with a key prefix of this run whose keys are
// deleted when the test ends.
type redisCache struct {
	url    string
	client *redis.Client
	prefix string
}

func newRedisCache(t *testing.T) *redisCache {
	t.Helper()
	url := testenv.URL(t, testenv.Redis)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("%s: %v", testenv.Redis, err)
	}
	c := &redisCache{url: url, client: redis.NewClient(opts), prefix: randomName("factorial-it-") + ":"}
	t.Cleanup(func() { _ = c.client.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := c.client.Ping(ctx).Err(); err != nil {
		testenv.Unreachable(t, testenv.Redis, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := c.client.Scan(ctx, 0, c.prefix+"*", 500).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("scan redis keys %s*: %v", c.prefix, err)
		}
		for i := 0; i < len(keys); i += 500 {
			if err := c.client.Del(ctx, keys[i:min(i+500, len(keys))]...).Err(); err != nil {
				t.Errorf("delete redis keys %s*: %v", c.prefix, err)
			}
		}
	})
	return c
}

// resultKey is the Redis key of n's cached result, as the API writes it.
func (c *redisCache) resultKey(n int64) string { return fmt.Sprintf("%sresult:%d", c.prefix, n) }

// lockWait is how long another run of this suite is waited for.
const lockWait = 3 * time.Minute

// ownNATS connects to TEST_NATS_URL and makes the FACTORIAL stream this run's own (see the
// package doc): it deletes any stream of that name left there, saying what it held, and
// deletes the stream again when the test ends. Call it before starting the processes, so
// that the final deletion runs after they have been stopped.
func ownNATS(t *testing.T) (url string, js jetstream.JetStream) {
	t.Helper()
	url = testenv.URL(t, testenv.NATS)
	lockMachine(t, lockWait)
	nc, err := nats.Connect(url, nats.Name("factorial-integration-test"), nats.Timeout(5*time.Second))
	if err != nil {
		testenv.Unreachable(t, testenv.NATS, err)
	}
	t.Cleanup(nc.Close)
	js, err = jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	switch s, err := js.Stream(ctx, events.Stream); {
	case errors.Is(err, jetstream.ErrStreamNotFound):
	case err != nil:
		t.Fatalf("inspect stream %s on %s: %v", events.Stream, url, err)
	default:
		info := s.CachedInfo()
		t.Logf("deleting the %s stream left on %s: %d messages (the last at %s), %d consumers",
			events.Stream, url, info.State.Msgs, info.State.LastTime.Format(time.RFC3339), info.State.Consumers)
		deleteStream(t, js)
	}
	t.Cleanup(func() { deleteStream(t, js) })
	return url, js
}

// pullingConsumers names the consumers of the FACTORIAL stream that have pull requests
// waiting. (On NATS 2.9 a request outlives the client that made it, so this tells who
// pulled, not who is alive: fine on a stream this run created.)
func pullingConsumers(ctx context.Context, js jetstream.JetStream) ([]string, error) {
	s, err := js.Stream(ctx, events.Stream)
	if err != nil {
		return nil, err
	}
	var names []string
	infos := s.ListConsumers(ctx)
	for ci := range infos.Info() {
		if ci.NumWaiting > 0 {
			names = append(names, ci.Name)
		}
	}
	return names, infos.Err()
}

// deleteStream deletes the FACTORIAL stream, with its consumers; a missing one is fine.
func deleteStream(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, events.Stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("delete stream %s: %v", events.Stream, err)
	}
}
