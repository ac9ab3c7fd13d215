//go:build !linux

package calculator

import "runtime"

// threadNice tells whether lowerThreadPriority can lower a thread's priority here.
const threadNice = false

// lowerThreadPriority locks the calling goroutine to its OS thread; lowering one thread's
// priority is done on Linux only (see lowprio_linux.go), so it reports false here. The
// goroutine still returns locked, as on Linux, which ends its thread.
func lowerThreadPriority(nice int) bool {
	if nice <= 0 {
		return false
	}
	runtime.LockOSThread()
	return false
}
