package migrations

import "time"

// SetSQLiteLockWait sets how long Up and Down wait for a SQLite migration lock, and returns
// a function that restores it.
func SetSQLiteLockWait(d time.Duration) (restore func()) {
	old := sqliteLockWait
	sqliteLockWait = d
	return func() { sqliteLockWait = old }
}
