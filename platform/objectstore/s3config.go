package objectstore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/factorial-service/factorial/platform/telemetry"
)

// Defaults of S3Config.
const (
	DefaultS3PartSize    int64 = 8 << 20 // bytes buffered per uploaded part
	DefaultS3Concurrency       = 2       // parts uploaded at once
	DefaultS3Silence           = 2 * time.Minute
	defaultS3Region            = "us-east-1"
)

// S3Config configures an S3 or S3-compatible store.
type S3Config struct {
	Bucket         string // S3_BUCKET, required
	Endpoint       string // S3_ENDPOINT: base URL of an S3-compatible store; "" for AWS
	Region         string // S3_REGION; "" uses the AWS chain, then us-east-1
	ForcePathStyle bool   // S3_FORCE_PATH_STYLE: http://host/bucket/key instead of http://bucket.host/key
	// PublicEndpoint (S3_PUBLIC_ENDPOINT) is the base URL of the same store as the users'
	// machines reach it, used only for presigned URLs; "" presigns with Endpoint. A compose
	// stack needs it: the services reach the store as http://s3:7070, a browser as
	// http://localhost:7070, and the signature covers the host.
	PublicEndpoint string

	// Credentials overrides the standard AWS chain (environment, shared files, IMDS...).
	Credentials aws.CredentialsProvider
	// PartSize is the size of each part of a multipart upload (at least 5 MiB); memory used
	// by one Put is about PartSize × (Concurrency + 2). Zero means DefaultS3PartSize.
	PartSize int64
	// Concurrency is the number of parts uploaded at once. Zero means DefaultS3Concurrency.
	Concurrency int
	// Silence is how long any S3 connection may stay silent while a call waits on it (the
	// SDK's rolling read timeout) before the call fails: an upload to an S3 that stopped
	// answering fails then, rather than hang, its claim kept alive by heartbeats, for as long
	// as the TCP connection lives. Zero means DefaultS3Silence. Reads have tighter bounds of
	// their own (see S3).
	Silence time.Duration
}

func (c S3Config) validate() error {
	if c.Bucket == "" {
		return errors.New("objectstore: S3_BUCKET is required for the s3 store")
	}
	for _, e := range []struct{ name, url string }{{"S3_ENDPOINT", c.Endpoint}, {"S3_PUBLIC_ENDPOINT", c.PublicEndpoint}} {
		if e.url == "" {
			continue
		}
		u, err := url.Parse(e.url)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("objectstore: %s %q is not an http(s) URL", e.name, e.url)
		}
	}
	if c.PartSize != 0 && c.PartSize < 5<<20 {
		return fmt.Errorf("objectstore: s3 part size %d is below the S3 minimum of 5 MiB", c.PartSize)
	}
	if c.Silence < 0 {
		return fmt.Errorf("objectstore: s3 silence %v is negative", c.Silence)
	}
	if c.Concurrency < 0 {
		return fmt.Errorf("objectstore: s3 concurrency %d is negative", c.Concurrency)
	}
	return nil
}

// newS3Client builds an S3 client from cfg and the standard AWS configuration chain.
func newS3Client(ctx context.Context, cfg S3Config) (*s3.Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(cfg.Credentials))
	}
	silence := cfg.Silence
	if silence == 0 {
		silence = DefaultS3Silence
	}
	// net/http reads an idle pooled connection too, so the time it sits in the pool counts
	// toward its silence: it is dropped from the pool after a quarter of it, and a call on a
	// reused connection has at least three quarters left.
	opts = append(opts, config.WithHTTPClient(awshttp.NewBuildableClient().WithReadTimeout(silence).
		WithTransportOptions(func(tr *http.Transport) { tr.IdleConnTimeout = silence / 4 })))
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("objectstore: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = defaultS3Region
	}
	tracer := telemetry.AWSTracerProvider() // a span per S3 call while tracing is on
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if tracer != nil {
			o.TracerProvider = tracer
		}
		o.UsePathStyle = cfg.ForcePathStyle
		if cfg.Endpoint == "" {
			return
		}
		o.BaseEndpoint = aws.String(cfg.Endpoint)
		// Many S3-compatible stores reject the SDK's default CRC checksums (trailing
		// checksums in aws-chunked bodies); send and check them only where the API requires
		// it, unless AWS_REQUEST_CHECKSUM_CALCULATION / AWS_RESPONSE_CHECKSUM_VALIDATION say otherwise.
		if os.Getenv("AWS_REQUEST_CHECKSUM_CALCULATION") == "" {
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		}
		if os.Getenv("AWS_RESPONSE_CHECKSUM_VALIDATION") == "" {
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	})
	return client, nil
}

// EnsureBucket creates cfg.Bucket if it does not exist yet. It is meant for tests and
// development stacks; production buckets are provisioned outside the service.
func EnsureBucket(ctx context.Context, cfg S3Config) error {
	client, err := newS3Client(ctx, cfg)
	if err != nil {
		return err
	}
	_, err = client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(cfg.Bucket)})
	if err == nil {
		return nil
	}
	if !isNotFound(err) {
		return bucketError(cfg, err)
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(cfg.Bucket)}
	if region := client.Options().Region; region != defaultS3Region {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(region),
		}
	}
	_, err = client.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("objectstore: create S3_BUCKET %q: %w", cfg.Bucket, err)
	}
	return nil
}

// bucketError explains a failed HeadBucket in terms of the settings that cause it.
func bucketError(cfg S3Config, err error) error {
	where := "AWS"
	if cfg.Endpoint != "" {
		where = "S3_ENDPOINT " + cfg.Endpoint
	}
	var ae smithy.APIError
	switch {
	case isNotFound(err):
		return fmt.Errorf("objectstore: S3_BUCKET %q does not exist at %s: %w", cfg.Bucket, where, err)
	case errors.As(err, &ae) && (ae.ErrorCode() == "Forbidden" || ae.ErrorCode() == "AccessDenied"):
		return fmt.Errorf("objectstore: access to S3_BUCKET %q at %s denied; check the AWS credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE...): %w", cfg.Bucket, where, err)
	default:
		return fmt.Errorf("objectstore: S3_BUCKET %q at %s is not reachable: %w", cfg.Bucket, where, err)
	}
}

// isNotFound reports whether err is S3's answer for an absent key or bucket.
func isNotFound(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "NotFound", "NoSuchKey", "NoSuchBucket":
		return true
	}
	return false
}
