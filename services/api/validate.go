package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"

	apispec "github.com/factorial-service/factorial/api-spec"
)

// loadSpec parses and validates api-spec/openapi.yaml.
func loadSpec(ctx context.Context) (*openapi3.T, routers.Router, error) {
	doc, err := openapi3.NewLoader().LoadFromData(apispec.OpenAPI)
	if err != nil {
		return nil, nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, nil, fmt.Errorf("openapi.yaml is invalid: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("openapi router: %w", err)
	}
	return doc, router, nil
}

// validateRequests checks every request to an /api/ path against the OpenAPI document
// before a handler sees it, and answers a request that does not conform with a problem that
// says what is wrong. The handlers then check what the document cannot say (MAX_NUMBER).
func validateRequests(router routers.Router, maxNumber int64) echo.MiddlewareFunc {
	opts := &openapi3filter.Options{
		AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
		ExcludeResponseBody: true,
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if !strings.HasPrefix(req.URL.Path, "/api/") {
				return next(c)
			}
			route, params, err := router.FindRoute(req)
			if err != nil {
				return next(c) // echo answers 404 or 405 itself
			}
			err = openapi3filter.ValidateRequest(req.Context(), &openapi3filter.RequestValidationInput{
				Request: req, PathParams: params, Route: route, Options: opts,
			})
			if err != nil {
				return requestProblem(err, maxNumber)
			}
			return next(c)
		}
	}
}

// requestProblem turns kin-openapi's validation error into a problem a person can act on.
func requestProblem(err error, maxNumber int64) error {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return he // body over the limit
	}
	hint := fmt.Sprintf("send {\"number\": n} with n an integer from 0 to %d", maxNumber)
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		return problem(http.StatusBadRequest, "%v; %s", err, hint)
	}
	if re.Parameter != nil {
		if re.Parameter.In == openapi3.ParameterInPath {
			return problem(http.StatusBadRequest, "%s in the path must be an integer from 0 to %d", re.Parameter.Name, maxNumber)
		}
		return problem(http.StatusBadRequest, "query parameter %s: %s", re.Parameter.Name, reason(re))
	}
	if strings.HasPrefix(re.Reason, "header Content-Type has unexpected value") {
		return problem(http.StatusUnsupportedMediaType, "Content-Type must be application/json; %s", hint)
	}
	var se *openapi3.SchemaError
	if errors.As(re.Err, &se) {
		at := strings.Join(se.JSONPointer(), ".")
		status := http.StatusBadRequest
		if se.SchemaField == "minimum" || se.SchemaField == "maximum" {
			status = http.StatusUnprocessableEntity
		}
		if at != "" {
			return problem(status, "%s: %s; %s", at, se.Reason, hint)
		}
		return problem(status, "%s; %s", se.Reason, hint)
	}
	if errors.Is(re.Err, openapi3filter.ErrInvalidRequired) {
		return problem(http.StatusBadRequest, "request body is empty; %s", hint)
	}
	return problem(http.StatusBadRequest, "%s; %s", reason(re), hint)
}

func reason(re *openapi3filter.RequestError) string {
	if re.Err != nil {
		var pe *openapi3filter.ParseError
		if errors.As(re.Err, &pe) {
			return "malformed JSON: " + pe.Error()
		}
		return re.Err.Error()
	}
	return re.Reason
}
