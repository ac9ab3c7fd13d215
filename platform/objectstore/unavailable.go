package objectstore

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// Unavailable reports whether err means the store could not be reached or did not answer
// (down, restarting, cut off, overloaded: a refused or reset connection, a timeout,
// ErrNoAnswer, an HTTP 5xx), as opposed to an answer about the request itself (a missing key,
// denied access, an unsafe or invalid key): the first is worth trying again later and is no
// fault of the work that needed the store. A context cancelled by the caller is neither.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	var re *awshttp.ResponseError
	switch {
	case errors.Is(err, ErrNoAnswer), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.As(err, &ne):
		return true
	case errors.As(err, &re):
		return re.HTTPStatusCode() >= 500
	}
	return false
}
