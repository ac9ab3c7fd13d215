package api

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/objectstore"
)

// verifiedSet remembers the stored objects whose bytes were checked against their record
// lately (integrity.go): by number, with the checksum and the store's ETag they were checked
// with (a rewritten object has another ETag) and until when the check holds. Bounded; looking
// one up allocates nothing.
type verifiedSet struct {
	mu  sync.Mutex
	lru *simplelru.LRU[int64, verifiedMark] // by number: small results have no key
}

type verifiedMark struct {
	checksum, etag string
	until          time.Time
}

func newVerifiedSet(size int) *verifiedSet {
	l, _ := simplelru.NewLRU[int64, verifiedMark](size, nil) // only fails for a size <= 0
	return &verifiedSet{lru: l}
}

// has reports whether obj, the object of rec, was checked and the check still holds.
func (v *verifiedSet) has(rec database.Record, obj objectstore.Object) bool {
	v.mu.Lock()
	m, ok := v.lru.Get(rec.Number)
	v.mu.Unlock()
	return ok && m.checksum == rec.Checksum && m.etag == obj.ETag && time.Now().Before(m.until)
}

// add records that obj, the object of rec, matched it.
func (v *verifiedSet) add(rec database.Record, obj objectstore.Object) {
	v.mu.Lock()
	v.lru.Add(rec.Number, verifiedMark{checksum: rec.Checksum, etag: obj.ETag, until: time.Now().Add(verifiedFor)})
	v.mu.Unlock()
}
