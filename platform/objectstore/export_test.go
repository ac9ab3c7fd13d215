package objectstore

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// PendingUploads counts the multipart uploads left open in the bucket of s.
func PendingUploads(t *testing.T, s *S3) int {
	t.Helper()
	out, err := s.client.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(s.cfg.Bucket)})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	return len(out.Uploads)
}

// SetReadBounds shortens the bounds of reading from s (answerTimeout, stallTimeout).
func SetReadBounds(s *S3, answer, stall time.Duration) { s.answerWithin, s.stallAfter = answer, stall }
