//go:build !linux

package integration

import (
	"os/exec"
	"testing"
	"time"
)

// dieWithParent is a no-op here: only Linux can tie a child's life to its parent's.
func dieWithParent(*exec.Cmd) {}

// lockMachine is a no-op here: runs of the suite are not serialised.
func lockMachine(*testing.T, time.Duration) {}
