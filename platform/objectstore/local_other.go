//go:build !linux

package objectstore

import (
	"errors"
	"os"
)

var errNoOpenat2 = errors.New("openat2 not available")

func (l *Local) openRegularFast(string) (*os.File, error) { return nil, errNoOpenat2 }
