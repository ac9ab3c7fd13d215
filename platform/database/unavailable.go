package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/uptrace/bun/driver/pgdriver"
	"modernc.org/sqlite"
)

// Unavailable reports whether err means the database cannot be reached or did not answer in
// time (down, cut off, black-holed, restarting, out of connections, locked, or a statement
// chosen as a deadlock's victim), as opposed to
// a fault in the query or the data: the first is worth a 503 and a retry, the second is a bug.
// A context cancelled by the caller is neither: it is not reported as unavailable.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	var pe pgdriver.Error
	var se *sqlite.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.As(err, &ne):
		return true
	case errors.As(err, &pe):
		switch code := pe.Field('C'); {
		case len(code) >= 2 && (code[:2] == "08" || code[:2] == "53" || code[:2] == "57"):
			// connection exception, insufficient resources, operator intervention (shutdown,
			// cancelled statement, cannot connect now)
			return true
		case code == "40P01" || code == "40001":
			// deadlock detected, serialization failure: the statement lost a race and may be
			// run again (see lockOrder)
			return true
		}
	case errors.As(err, &se):
		switch se.Code() & 0xff { // primary result code
		case 5, 6, 10, 13, 14: // SQLITE_BUSY, LOCKED, IOERR, FULL, CANTOPEN
			return true
		}
	}
	return false
}
