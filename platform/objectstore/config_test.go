package objectstore_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/factorial-service/factorial/platform/objectstore"
)

func TestOpen(t *testing.T) {
	isolateAWSEnv(t)
	dir := t.TempDir()
	tests := []struct {
		name     string
		cfg      objectstore.Config
		wantType string // of the store, when no error is expected
		wantErr  string // substring of the error
	}{
		{"empty kind is local", objectstore.Config{LocalDir: dir}, "*objectstore.Local", ""},
		{"local", objectstore.Config{Kind: "local", LocalDir: dir}, "*objectstore.Local", ""},
		{"memory", objectstore.Config{Kind: "memory"}, "*objectstore.Memory", ""},
		{"local without a directory", objectstore.Config{Kind: "local"}, "", "LOCAL_STORAGE_DIR"},
		{"s3 without a bucket", objectstore.Config{Kind: "s3"}, "", "S3_BUCKET"},
		{"s3 with a bad endpoint", objectstore.Config{Kind: "s3", S3Bucket: "b", S3Endpoint: "::"}, "", "S3_ENDPOINT"},
		{"unknown kind", objectstore.Config{Kind: "ftp"}, "", "STORAGE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := objectstore.Open(t.Context(), tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open = %v, want an error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got := fmt.Sprintf("%T", s); got != tt.wantType {
				t.Errorf("Open built a %s, want %s", got, tt.wantType)
			}
		})
	}
}
