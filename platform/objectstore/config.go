package objectstore

import (
	"context"
	"errors"
	"fmt"
)

// Kinds of store accepted in Config.Kind (the STORAGE variable).
const (
	KindLocal  = "local"
	KindS3     = "s3"
	KindMemory = "memory"
)

// Config selects and configures a store; its fields mirror the environment variables named
// in their comments, which the errors of Open name.
type Config struct {
	Kind             string `env:"STORAGE" envDefault:"local"` // local (the default when empty), s3 or memory
	LocalDir         string `env:"LOCAL_STORAGE_DIR"`          // required for local
	S3Bucket         string `env:"S3_BUCKET"`                  // required for s3
	S3Endpoint       string `env:"S3_ENDPOINT"`                // optional: an S3-compatible store
	S3Region         string `env:"S3_REGION"`                  // optional
	S3ForcePathStyle bool   `env:"S3_FORCE_PATH_STYLE"`
	S3PublicEndpoint string `env:"S3_PUBLIC_ENDPOINT"` // optional: the store as users reach it, for presigned URLs
}

// Open builds the store cfg describes. For s3 it checks that the bucket is reachable.
func Open(ctx context.Context, cfg Config) (Store, error) {
	switch cfg.Kind {
	case KindLocal, "":
		if cfg.LocalDir == "" {
			return nil, errors.New("objectstore: LOCAL_STORAGE_DIR is required when STORAGE=local")
		}
		l, err := NewLocal(cfg.LocalDir)
		if err != nil {
			return nil, fmt.Errorf("LOCAL_STORAGE_DIR %q: %w", cfg.LocalDir, err)
		}
		return l, nil
	case KindS3:
		return NewS3(ctx, S3Config{
			Bucket:         cfg.S3Bucket,
			Endpoint:       cfg.S3Endpoint,
			Region:         cfg.S3Region,
			ForcePathStyle: cfg.S3ForcePathStyle,
			PublicEndpoint: cfg.S3PublicEndpoint,
		})
	case KindMemory:
		return NewMemory(), nil
	default:
		return nil, fmt.Errorf("objectstore: STORAGE=%q is not one of local, s3, memory", cfg.Kind)
	}
}
