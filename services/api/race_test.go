//go:build race

package api

// raceEnabled says whether the race detector is on: its sync.Pool drops items at random, so
// echo's pooled contexts are made anew and allocation counts mean nothing.
const raceEnabled = true
