package objectstore

import "testing"

// WithoutOpenat2 makes local stores open through the root, as on a kernel without openat2,
// until the test ends.
func WithoutOpenat2(t *testing.T) {
	noOpenat2.Store(true)
	t.Cleanup(func() { noOpenat2.Store(false) })
}
