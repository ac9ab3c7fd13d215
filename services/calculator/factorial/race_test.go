//go:build race

package factorial

// raceEnabled says whether the race detector, which multiplies memory use, is on.
const raceEnabled = true
