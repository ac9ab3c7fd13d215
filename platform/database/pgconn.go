package database

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/uptrace/bun/driver/pgdriver"
)

// pgdriver closes a connection whose plain query fails on the network (a timeout included),
// but not one whose prepared statement does: a statement abandoned at its deadline (the API
// waits 1 s) went back to the pool with PostgreSQL's answer still to come, and the next
// statement on the connection read that answer as its own (another number's rows,
// "unexpected message"). Every statement here is prepared (see queryPrepared), so a slow
// database or a black hole that lifted made 500s, and could have made wrong answers.
// safeConnector's connections close themselves when a prepare or a prepared statement fails
// other than by PostgreSQL's own error answer (after which the connection is in step): the
// pool then drops them (driver.Validator) and opens fresh ones.
type safeConnector struct{ *pgdriver.Connector }

func (c safeConnector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := cn.(*pgdriver.Conn)
	if !ok {
		return cn, nil
	}
	return &safeConn{Conn: pc}, nil
}

// safeConn is a pgdriver connection whose prepared statements close it when they leave it
// out of step.
type safeConn struct{ *pgdriver.Conn }

func (c *safeConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *safeConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := c.Conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, c.failed(err)
	}
	return &safeStmt{Stmt: st, cn: c}, nil
}

// failed closes the connection unless err is PostgreSQL's answer (an error it sent, not
// fatal), and returns err.
func (c *safeConn) failed(err error) error {
	var pe pgdriver.Error
	if errors.As(err, &pe) && pe.Field('V') != "FATAL" && pe.Field('V') != "PANIC" {
		return err
	}
	_ = c.Conn.Close()
	return err
}

type safeStmt struct {
	driver.Stmt
	cn *safeConn
}

func (s *safeStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	ex, ok := s.Stmt.(driver.StmtExecContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	res, err := ex.ExecContext(ctx, args)
	if err != nil {
		return nil, s.cn.failed(err)
	}
	return res, nil
}

func (s *safeStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := s.Stmt.(driver.StmtQueryContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	rows, err := q.QueryContext(ctx, args)
	if err != nil {
		return nil, s.cn.failed(err)
	}
	return rows, nil
}
