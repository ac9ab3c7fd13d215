//go:build !linux

package objectstore

import "testing"

func WithoutOpenat2(*testing.T) {}
