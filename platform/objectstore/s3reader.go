package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// s3Reader reads an object with ranged GETs: Seek only moves the offset (and drops the
// current response body); the next Read starts a GET from there to the end. A GET whose
// response does not come within answerWithin, or a Read of its body that gets nothing for
// stallAfter, is cancelled by its watchdog and fails with ErrNoAnswer.
type s3Reader struct {
	ctx  context.Context
	s    *S3
	info Object
	off  int64         // position of the next Read
	body io.ReadCloser // open response positioned at off, or nil

	bodyCtx  context.Context         // the GET's, cancelled with ErrNoAnswer by watchdog
	cancel   context.CancelCauseFunc // of bodyCtx
	watchdog *time.Timer
}

func (r *s3Reader) Info() Object { return r.info }

func (r *s3Reader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if r.off >= r.info.Size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.body == nil {
		if err := r.get(); err != nil {
			return 0, err
		}
	}
	r.watchdog.Reset(r.s.stallAfter)
	n, err := r.body.Read(p)
	if !r.watchdog.Stop() && context.Cause(r.bodyCtx) == ErrNoAnswer {
		err = r.noAnswer(r.s.stallAfter)
	}
	r.off += int64(n)
	if errors.Is(err, io.EOF) && r.off < r.info.Size {
		err = fmt.Errorf("objectstore: read %q: body ended at %d of %d bytes: %w", r.info.Key, r.off, r.info.Size, io.ErrUnexpectedEOF)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		r.closeBody()
	}
	return n, err
}

// get starts a GET of the rest of the object from r.off. If-Match makes S3 refuse to mix
// the bytes of an object replaced since Open with those already read.
func (r *s3Reader) get() error {
	in := &s3.GetObjectInput{
		Bucket: aws.String(r.info.Bucket),
		Key:    aws.String(r.info.Key),
		Range:  aws.String("bytes=" + strconv.FormatInt(r.off, 10) + "-"),
	}
	if r.info.ETag != "" {
		in.IfMatch = aws.String(r.info.ETag)
	}
	ctx, cancel := context.WithCancelCause(r.ctx)
	watchdog := time.AfterFunc(r.s.answerWithin, func() { cancel(ErrNoAnswer) })
	out, err := r.s.client.GetObject(ctx, in)
	if !watchdog.Stop() && context.Cause(ctx) == ErrNoAnswer {
		if err == nil {
			_ = out.Body.Close()
		}
		err = r.noAnswer(r.s.answerWithin)
	}
	if err != nil {
		cancel(nil)
	}
	var ae smithy.APIError
	switch {
	case errors.Is(err, ErrNoAnswer):
		return err
	case err == nil:
		r.body, r.bodyCtx, r.cancel, r.watchdog = out.Body, ctx, cancel, watchdog
		return nil
	case isNotFound(err):
		return fmt.Errorf("objectstore: read %q: deleted since open: %w", r.info.Key, ErrNotFound)
	case errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed":
		return fmt.Errorf("objectstore: read %q: object replaced since open: %w", r.info.Key, err)
	default:
		return fmt.Errorf("objectstore: read %q at %d: %w", r.info.Key, r.off, err)
	}
}

func (r *s3Reader) Seek(offset int64, whence int) (int64, error) {
	abs, err := seekOffset(r.off, r.info.Size, offset, whence)
	if err != nil {
		return r.off, err
	}
	if abs != r.off {
		r.closeBody()
		r.off = abs
	}
	return abs, nil
}

// noAnswer is the error of a GET or a Read its watchdog cut after d.
func (r *s3Reader) noAnswer(d time.Duration) error {
	return fmt.Errorf("objectstore: read %q at %d: %w within %v", r.info.Key, r.off, ErrNoAnswer, d)
}

func (r *s3Reader) closeBody() {
	if r.body != nil {
		r.watchdog.Stop()
		_ = r.body.Close()
		r.cancel(nil)
		r.body = nil
	}
}

func (r *s3Reader) Close() error {
	r.closeBody()
	return nil
}
