package api

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/factorial-service/factorial/platform/database"
	"github.com/factorial-service/factorial/platform/objectstore"
)

// streamText serves the digits of a done record from the object store (or its row): ETag (their
// SHA-256), Range and conditional requests through http.ServeContent, gzip when asked for
// and no range is. The digits are checked against the record on the way (integrity.go):
// digits found not to match before anything is sent get the 202 of the record sent back to
// be computed; found not to match while streaming, the response is cut short.
func (s *Service) streamText(c echo.Context, rec database.Record, download bool) error {
	req, resp := c.Request(), c.Response()
	ctx := req.Context()
	obj, err := s.results.openDigits(ctx, rec)
	if err != nil {
		return s.notServed(c, rec, err)
	}
	defer obj.Close()
	info := obj.Info()
	if info.Size != rec.Size {
		return s.notServed(c, rec, &corruptError{reason: corruptChecksum,
			err: fmt.Errorf("the object has %d bytes, the record says %d", info.Size, rec.Size)})
	}
	if p := checkRanges(req.Header.Get("Range"), rec.Size); p != nil {
		return p
	}
	_, err = s.results.verified.Get(ctx, verifiedKey(rec, info))
	verified := err == nil

	h := resp.Header()
	h.Set(echo.HeaderContentType, "text/plain; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=31536000, immutable") // n! never changes
	disposition := "inline"
	if download {
		disposition = "attachment" // the browser saves it instead of showing 65 MB in a tab
	}
	h.Set("Content-Disposition", fmt.Sprintf("%s; filename=\"factorial-%d.txt\"", disposition, rec.Number))
	modTime := rec.UpdatedAt
	if rec.ComputedAt != nil {
		modTime = *rec.ComputedAt
	}

	if req.Header.Get("Range") == "" && strings.Contains(req.Header.Get(echo.HeaderAcceptEncoding), "gzip") {
		h.Set("ETag", fmt.Sprintf("%q", rec.Checksum+"-gzip"))
		if match := req.Header.Get("If-None-Match"); match != "" && strings.Contains(match, rec.Checksum+"-gzip") {
			resp.WriteHeader(http.StatusNotModified)
			return nil
		}
		h.Set(echo.HeaderContentEncoding, "gzip")
		resp.WriteHeader(http.StatusOK)
		if req.Method == http.MethodHead {
			return nil
		}
		var src io.Reader = obj
		v := newVerifyingReader(obj, rec)
		if !verified {
			src = v
		}
		zw, _ := gzip.NewWriterLevel(newProgressWriter(resp), gzip.BestSpeed)
		if _, err := io.Copy(zw, src); err != nil {
			if ce := v.corrupt(); ce != nil {
				_, _ = s.results.recompute(ctx, rec, ce)
				panic(http.ErrAbortHandler) // no gzip trailer, no last chunk: the client sees it cut
			}
			return err // the client went away, or storage failed mid-way
		}
		s.markVerified(c, rec, info, !verified)
		return zw.Close()
	}

	h.Set("ETag", fmt.Sprintf("%q", rec.Checksum))
	w := &problemWriter{ResponseWriter: newProgressWriter(resp), req: req}
	if verified || req.Method == http.MethodHead {
		http.ServeContent(w, req, "", modTime, obj)
		return nil
	}
	if req.Header.Get("Range") != "" {
		// Part of an object not yet checked: check it whole first, then serve the part.
		if _, err := checkAll(obj, rec); err != nil {
			var ce *corruptError
			if errors.As(err, &ce) {
				return s.notServed(c, rec, ce)
			}
			return storageError(err)
		}
		if _, err := obj.Seek(0, io.SeekStart); err != nil {
			return storageError(err)
		}
		s.markVerified(c, rec, info, true)
		http.ServeContent(w, req, "", modTime, obj)
		return nil
	}
	v := newVerifyingReader(obj, rec)
	http.ServeContent(w, req, "", modTime, v)
	if ce := v.corrupt(); ce != nil {
		// ServeContent stopped short of Content-Length: net/http closes the connection.
		_, _ = s.results.recompute(ctx, rec, ce)
		return nil
	}
	s.markVerified(c, rec, info, v.checked)
	return nil
}

// notServed answers a request for digits that must not be served: the record goes back to
// be computed, and the answer is its 202 (what the record now is).
func (s *Service) notServed(c echo.Context, rec database.Record, err error) error {
	var ce *corruptError
	if !errors.As(err, &ce) {
		return err
	}
	fresh, err := s.results.recompute(c.Request().Context(), rec, ce)
	if err != nil {
		return err
	}
	return s.answer(c, result{Record: fresh})
}

func (s *Service) markVerified(c echo.Context, rec database.Record, info objectstore.Object, checked bool) {
	if checked {
		_ = s.results.verified.Set(c.Request().Context(), verifiedKey(rec, info), nil, verifiedFor)
	}
}

// storageError classifies an error reading an object.
func storageError(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return &unavailableError{what: "storage", err: err}
}
