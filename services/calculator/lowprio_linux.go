//go:build linux

package calculator

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// threadNice tells whether lowerThreadPriority can lower a thread's priority here.
const threadNice = true

// lowerThreadPriority locks the calling goroutine to its OS thread and gives that thread the
// niceness nice (1 to 19), so that the kernel runs every other thread of the machine first,
// the small path's among them. On Linux a niceness set by thread id affects that one thread.
// The goroutine must return without unlocking: raising the priority back needs a privilege
// the process may not have, and a goroutine that exits locked takes its thread with it, so
// the niced thread never runs anything else. It reports whether the niceness was set.
func lowerThreadPriority(nice int) bool {
	if nice <= 0 {
		return false
	}
	runtime.LockOSThread()
	return unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), nice) == nil
}
