package objectstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"time"
)

var _ Store = (*Memory)(nil)

// Memory is a Store that keeps objects in process memory, for tests and STORAGE=memory.
// It is safe for concurrent use.
type Memory struct {
	mu      sync.RWMutex
	objects map[string]memObject
}

type memObject struct {
	data []byte // never modified once stored
	info Object
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{objects: make(map[string]memObject)}
}

// Put reads r to the end and stores a copy of it under key.
func (m *Memory) Put(ctx context.Context, key string, r io.Reader) (Object, error) {
	if err := ValidateKey(key); err != nil {
		return Object{}, err
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, ctxReader{ctx, r}); err != nil {
		return Object{}, fmt.Errorf("objectstore: put %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return Object{}, fmt.Errorf("objectstore: put %q: %w", key, err)
	}
	data := buf.Bytes()
	sum := md5.Sum(data)
	info := Object{
		Key:     key,
		Size:    int64(len(data)),
		ETag:    `"` + hex.EncodeToString(sum[:]) + `"`,
		ModTime: time.Now().UTC(),
	}
	m.mu.Lock()
	m.objects[key] = memObject{data: data, info: info}
	m.mu.Unlock()
	return info, nil
}

// Open returns a Reader of the object stored under key.
func (m *Memory) Open(ctx context.Context, key string) (Reader, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("objectstore: open %q: %w", key, err)
	}
	m.mu.RLock()
	obj, ok := m.objects[key]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("objectstore: open %q: %w", key, ErrNotFound)
	}
	return &memReader{ctx: ctx, r: bytes.NewReader(obj.data), info: obj.info}, nil
}

// Delete removes the object stored under key, if any.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objectstore: delete %q: %w", key, err)
	}
	m.mu.Lock()
	delete(m.objects, key)
	m.mu.Unlock()
	return nil
}

// Bucket returns "": a memory store has no bucket.
func (m *Memory) Bucket() string { return "" }

// Ping always succeeds.
func (m *Memory) Ping(context.Context) error { return nil }

// memReader reads a stored byte slice; the slice is shared, never copied, and never written.
type memReader struct {
	ctx  context.Context
	r    *bytes.Reader
	info Object
}

func (r *memReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func (r *memReader) Seek(offset int64, whence int) (int64, error) {
	return r.r.Seek(offset, whence)
}

func (r *memReader) Info() Object { return r.info }
func (r *memReader) Close() error { return nil }
