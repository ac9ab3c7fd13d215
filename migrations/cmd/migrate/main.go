// Command migrate applies the service's database migrations: bin/migrate up|down|status|unlock,
// on the database named by DATABASE_URL (postgres://… or a SQLite file). It is the one-shot
// migrate job of the compose stack.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"text/tabwriter"

	"github.com/uptrace/bun"

	"github.com/factorial-service/factorial/migrations"
	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/logging"
)

const usage = "usage: migrate up|down|status|unlock (the database is DATABASE_URL: postgres://… or a SQLite file)"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "migrate:", err)
		os.Exit(1)
	}
}

// run carries out the command in args on the database named by getenv("DATABASE_URL"),
// logging to stdout (LOG_LEVEL, LOG_FORMAT).
//
//	up      apply every pending migration
//	down    roll back the last group applied by up
//	status  list applied and pending migrations
//	unlock  clear a SQLite migration lock left by a process that died
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 1 && slices.Contains([]string{"help", "-h", "-help", "--help"}, args[0]) {
		_, err := fmt.Fprintln(stdout, usage)
		return err
	}
	if len(args) != 1 || !slices.Contains([]string{"up", "down", "status", "unlock"}, args[0]) {
		return errors.New(usage)
	}
	log, err := logging.New(stdout, logging.Config{Level: orDefault(getenv("LOG_LEVEL"), "info"), Format: getenv("LOG_FORMAT")}, "migrate")
	if err != nil {
		return err
	}
	rawURL := getenv("DATABASE_URL")
	if rawURL == "" {
		return errors.New("DATABASE_URL is required: set it to postgres://user:password@host:5432/database or a SQLite file path")
	}
	db, err := database.Open(ctx, rawURL)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()

	switch args[0] {
	case "up":
		_, before, err := migrations.Status(ctx, db)
		if err != nil {
			return err
		}
		if err := migrations.Up(ctx, db); err != nil {
			return err
		}
		_, after, err := migrations.Status(ctx, db)
		if err != nil {
			return err
		}
		if applied := without(before, after); len(applied) > 0 {
			log.Info("migrations applied", "migrations", applied)
		} else {
			log.Info("database schema is up to date")
		}
	case "down":
		before, _, err := migrations.Status(ctx, db)
		if err != nil {
			return err
		}
		if err := migrations.Down(ctx, db); err != nil {
			return err
		}
		after, _, err := migrations.Status(ctx, db)
		if err != nil {
			return err
		}
		if undone := without(before, after); len(undone) > 0 {
			log.Info("migrations rolled back", "migrations", undone)
		} else {
			log.Info("no migrations to roll back")
		}
	case "status":
		return printStatus(ctx, db, stdout)
	case "unlock":
		if err := migrations.Unlock(ctx, db); err != nil {
			return err
		}
		log.Info("migration lock cleared")
	}
	return nil
}

// printStatus writes one line per migration, its state and its name, oldest first.
func printStatus(ctx context.Context, db *bun.DB, w io.Writer) error {
	applied, pending, err := migrations.Status(ctx, db)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, name := range applied {
		fmt.Fprintf(tw, "applied\t%s\n", name)
	}
	for _, name := range pending {
		fmt.Fprintf(tw, "pending\t%s\n", name)
	}
	return tw.Flush()
}

// without returns the names of a that are not in b.
func without(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
