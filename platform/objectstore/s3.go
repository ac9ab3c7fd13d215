//lint:file-ignore SA1019 uploads use feature/s3/manager, deprecated for transfermanager (still v0.x): see the S3 type

package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

var (
	_ Store     = (*S3)(nil)
	_ Presigner = (*S3)(nil)
)

// abortTimeout bounds the clean-up of a failed multipart upload, which runs even when the
// caller's ctx is already cancelled.
const abortTimeout = 30 * time.Second

// Bounds of reading: an S3 that does not answer (behind a black hole, or overloaded) fails a
// read with ErrNoAnswer in seconds instead of holding it, and the HTTP request above it, for
// as long as the connection lives (the SDK's HTTP client has no such bound).
const (
	answerTimeout = 2 * time.Second  // for Open's HeadObject, and a GetObject's response headers
	stallTimeout  = 10 * time.Second // for each Read of a body, once it flows
)

// S3 is a Store on an S3 bucket or an S3-compatible store (MinIO, Ceph, R2...).
//
// Put uploads in parts of S3Config.PartSize while it reads, never holding the whole object;
// S3 shows the object only once the upload completes, and a failed upload is aborted.
// Open does one HeadObject; the Reader fetches bytes with a ranged GetObject on the first
// Read after each Seek.
//
// Uploads use feature/s3/manager, which AWS has marked deprecated in favour of
// feature/s3/transfermanager; it is still maintained and does exactly what Put needs.
type S3 struct {
	client   *s3.Client
	presign  *s3.PresignClient
	uploader *manager.Uploader
	cfg      S3Config

	answerWithin, stallAfter time.Duration // answerTimeout, stallTimeout; shortened by tests
}

// NewS3 builds an S3 store from cfg and the standard AWS credential chain, and checks that
// the bucket exists and is reachable (see EnsureBucket to create it).
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	client, err := newS3Client(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultS3PartSize
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultS3Concurrency
	}
	presignWith := client
	if cfg.PublicEndpoint != "" {
		presignWith = s3.New(client.Options(), func(o *s3.Options) { o.BaseEndpoint = aws.String(cfg.PublicEndpoint) })
	}
	s := &S3{
		answerWithin: answerTimeout, stallAfter: stallTimeout,
		client:  client,
		presign: s3.NewPresignClient(presignWith),
		cfg:     cfg,
		uploader: manager.NewUploader(client, func(u *manager.Uploader) {
			u.PartSize = cfg.PartSize
			u.Concurrency = cfg.Concurrency
			u.LeavePartsOnError = true // Put aborts itself, with a ctx that is still alive
			u.RequestChecksumCalculation = client.Options().RequestChecksumCalculation
		}),
	}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		return nil, bucketError(cfg, err)
	}
	return s, nil
}

// Bucket returns the bucket name.
func (s *S3) Bucket() string { return s.cfg.Bucket }

// Put uploads r under key, in parts while reading it. On any error a started multipart
// upload is aborted, so no object and no orphan parts remain.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (Object, error) {
	if err := ValidateKey(key); err != nil {
		return Object{}, err
	}
	// A plain reader (no Seek, no ReadAt) makes the uploader read and send part by part.
	body := &countingReader{r: ctxReader{ctx, r}}
	in := &s3.PutObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(key),
		Body:   body,
	}
	if ct := mime.TypeByExtension(path.Ext(key)); ct != "" {
		in.ContentType = aws.String(ct)
	}
	out, err := s.uploader.Upload(ctx, in)
	if err != nil {
		var mf manager.MultiUploadFailure
		if errors.As(err, &mf) && mf.UploadID() != "" {
			err = errors.Join(err, s.abort(ctx, key, mf.UploadID()))
		}
		return Object{}, fmt.Errorf("objectstore: put %q: %w", key, err)
	}
	obj := Object{
		Key:     key,
		Bucket:  s.cfg.Bucket,
		Size:    body.n,
		ETag:    aws.ToString(out.ETag),
		ModTime: time.Now().UTC(),
	}
	// The upload answers neither the modification time nor, on some S3-compatible stores,
	// the ETag that HeadObject will report; ask. The object is stored either way, so a
	// failed HeadObject keeps the upload's values rather than failing the Put.
	if head, err := s.head(ctx, key); err == nil && head.Size == obj.Size {
		obj = head
	}
	return obj, nil
}

// abort cancels a multipart upload, even if ctx is done.
func (s *S3) abort(ctx context.Context, key, uploadID string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket:   aws.String(s.cfg.Bucket),
		Key:      aws.String(key),
		UploadId: aws.String(uploadID),
	})
	if err != nil {
		return fmt.Errorf("abort multipart upload %s: %w", uploadID, err)
	}
	return nil
}

// Open reads the object's metadata; its bytes are fetched lazily by the Reader, with ctx.
func (s *S3) Open(ctx context.Context, key string) (Reader, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	hctx, cancel := context.WithTimeoutCause(ctx, s.answerWithin, ErrNoAnswer)
	info, err := s.head(hctx, key)
	if err != nil && context.Cause(hctx) == ErrNoAnswer && ctx.Err() == nil {
		err = fmt.Errorf("%w within %v", ErrNoAnswer, s.answerWithin) // not the SDK's deadline error
	}
	cancel()
	if err != nil {
		return nil, fmt.Errorf("objectstore: open %q: %w", key, err)
	}
	return &s3Reader{ctx: ctx, s: s, info: info}, nil
}

// head describes the object stored under key, or fails with ErrNotFound.
func (s *S3) head(ctx context.Context, key string) (Object, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(key),
	})
	if isNotFound(err) {
		return Object{}, ErrNotFound
	}
	if err != nil {
		return Object{}, err
	}
	return Object{
		Key:     key,
		Bucket:  s.cfg.Bucket,
		Size:    aws.ToInt64(out.ContentLength),
		ETag:    aws.ToString(out.ETag),
		ModTime: aws.ToTime(out.LastModified).UTC(),
	}, nil
}

// Delete removes the object; S3 treats an absent key as success.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(key),
	})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("objectstore: delete %q: %w", key, err)
	}
	return nil
}

// Ping checks that the bucket is reachable with the configured credentials.
func (s *S3) Ping(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.cfg.Bucket)}); err != nil {
		return fmt.Errorf("objectstore: ping: %w", bucketError(s.cfg, err))
	}
	return nil
}

// PresignGet returns a URL that downloads the object without credentials until ttl passes,
// on S3Config.PublicEndpoint when it is set. It does not check that the object exists.
func (s *S3) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	if ttl <= 0 {
		return "", fmt.Errorf("objectstore: presign %q: ttl %v is not positive", key, ttl)
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(key),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("objectstore: presign %q: %w", key, err)
	}
	return req.URL, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
