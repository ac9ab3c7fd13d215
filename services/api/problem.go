package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Problem is an RFC 9457 problem details document. It is also the error type handlers
// return for anything the client must fix.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

// problem builds a Problem whose title is the status text.
func problem(status int, format string, args ...any) *Problem {
	return &Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: fmt.Sprintf(format, args...)}
}

// errorHandler writes every error as application/problem+json: the handlers' Problems,
// echo's own errors (unknown route, wrong method, body too large) and, for anything else, a
// 500 whose detail says only "internal error" while the log gets the whole error.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		var p *Problem
		var he *echo.HTTPError
		switch {
		case errors.As(err, &p):
		case errors.As(err, &he):
			p = problem(he.Code, "%s", echoDetail(he))
		default:
			log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path,
				"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "err", err)
			p = problem(http.StatusInternalServerError, "internal error")
		}
		p.Instance = c.Request().URL.RequestURI()
		body, _ := json.Marshal(p)
		c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
		c.Response().WriteHeader(p.Status)
		if c.Request().Method != http.MethodHead {
			_, _ = c.Response().Write(body)
		}
	}
}

func echoDetail(he *echo.HTTPError) string {
	switch he.Code {
	case http.StatusNotFound:
		return "no such resource; see /openapi.yaml for the API"
	case http.StatusMethodNotAllowed:
		return "method not allowed on this resource; see /openapi.yaml for the API"
	case http.StatusRequestEntityTooLarge:
		return fmt.Sprintf("request body is larger than %d bytes; send {\"number\": n}", maxBodyBytes)
	}
	if msg, ok := he.Message.(string); ok {
		return msg
	}
	return http.StatusText(he.Code)
}
