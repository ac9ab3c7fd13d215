//go:build unix

package factorial

import (
	"syscall"
	"unsafe"
)

// mapWords maps n zeroed words of anonymous memory.
func mapWords(n int) ([]uint64, func(), bool) {
	b, err := syscall.Mmap(-1, 0, n*8, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil, false
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), n), func() { syscall.Munmap(b) }, true
}
