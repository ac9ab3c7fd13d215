package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Vector is one row of the reference table ../shared/reference/factorial-vectors.tsv beside
// the repository: n! computed with GMP.
type Vector struct {
	N      int64
	Digits int64
	SHA256 string // hex SHA-256 of the decimal text
	Prefix string // its first 20 digits
}

// ReadVectors reads the reference table. Its error wraps os.ErrNotExist when the repository
// was cloned without shared/ beside it.
func ReadVectors() ([]Vector, error) {
	path, err := vectorsPath()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reference vectors: %w", err)
	}
	defer f.Close()
	var vs []Vector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) != 4 {
			return nil, fmt.Errorf("%s: line %q has %d fields, want 4", path, line, len(fields))
		}
		n, err1 := strconv.ParseInt(fields[0], 10, 64)
		digits, err2 := strconv.ParseInt(fields[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: line %q: bad number or digit count", path, line)
		}
		vs = append(vs, Vector{N: n, Digits: digits, SHA256: fields[2], Prefix: fields[3]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("%s holds no vectors", path)
	}
	return vs, nil
}

// Vectors returns the reference table, or skips the test with a line saying why when shared/
// is not beside the repository.
func Vectors(t testing.TB) []Vector {
	t.Helper()
	vs, err := ReadVectors()
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("SKIP: %v (clone the repository with shared/ beside it)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// vectorsPath is the table beside the repository root.
func vectorsPath() (string, error) {
	root, err := workspaceRoot()
	if err != nil {
		return "", fmt.Errorf("reference vectors: %w", err)
	}
	return filepath.Join(root, "..", "shared", "reference", "factorial-vectors.tsv"), nil
}

// workspaceRoot is the directory holding go.work above the working directory.
func workspaceRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.work above the working directory: %w", os.ErrNotExist)
		}
		dir = parent
	}
}
