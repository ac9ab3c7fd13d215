package objectstore_test

import (
	"testing"

	"github.com/factorial-service/factorial/platform/objectstore"
)

func TestMemoryContract(t *testing.T) {
	runContract(t, func(*testing.T) objectstore.Store { return objectstore.NewMemory() })
}
