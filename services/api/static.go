package api

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	swaggerfiles "github.com/swaggo/files/v2"

	apispec "github.com/factorial-service/factorial/api-spec"
)

//go:embed web
var web embed.FS

// Content-Security-Policies: the web page runs only its own script and style; Swagger UI
// also needs inline styles and data: images (its icons); nothing else may be framed or run.
const (
	cspNone    = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	cspPage    = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	cspSwagger = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

// staticFile is one embedded file served as is.
type staticFile struct {
	body        []byte
	contentType string
	etag        string
	csp         string
	cache       string // Cache-Control
}

// staticFiles reads the files the API serves besides the API itself: the web page and its
// assets, openapi.yaml, and Swagger UI 5 (from swaggo/files, served directly: only the
// files its page loads, and our own page and initializer, which load /openapi.yaml and
// nothing else). Keys are the URL paths.
func staticFiles() (map[string]*staticFile, error) {
	files := map[string]*staticFile{}
	add := func(urlPath string, fsys fs.FS, name, csp, cache string) error {
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("embedded %s: %w", name, err)
		}
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		files[urlPath] = &staticFile{
			body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:16]) + `"`, csp: csp, cache: cache,
		}
		return nil
	}
	const revalidate, hour = "no-cache", "public, max-age=3600"
	for _, f := range []struct {
		url  string
		fsys fs.FS
		name string
		csp  string
	}{
		{"/", web, "web/index.html", cspPage},
		{"/assets/app.js", web, "web/app.js", cspNone},
		{"/assets/app.css", web, "web/app.css", cspNone},
		{"/swagger/", web, "web/swagger/index.html", cspSwagger},
		{"/swagger/index.html", web, "web/swagger/index.html", cspSwagger},
		{"/swagger/swagger-initializer.js", web, "web/swagger/swagger-initializer.js", cspNone},
		{"/swagger/swagger-ui.css", swaggerfiles.FS, "swagger-ui.css", cspNone},
		{"/swagger/index.css", swaggerfiles.FS, "index.css", cspNone},
		{"/swagger/swagger-ui-bundle.js", swaggerfiles.FS, "swagger-ui-bundle.js", cspNone},
		{"/swagger/swagger-ui-standalone-preset.js", swaggerfiles.FS, "swagger-ui-standalone-preset.js", cspNone},
		{"/swagger/favicon-32x32.png", swaggerfiles.FS, "favicon-32x32.png", cspNone},
		{"/swagger/favicon-16x16.png", swaggerfiles.FS, "favicon-16x16.png", cspNone},
	} {
		cache := hour
		if path.Ext(f.name) == ".html" || strings.HasPrefix(f.url, "/assets/") {
			cache = revalidate // the page and its files show a new version at once
		}
		if err := add(f.url, f.fsys, f.name, f.csp, cache); err != nil {
			return nil, err
		}
	}
	sum := sha256.Sum256(apispec.OpenAPI)
	files["/openapi.yaml"] = &staticFile{
		body: apispec.OpenAPI, contentType: "application/yaml", etag: `"` + hex.EncodeToString(sum[:16]) + `"`,
		csp: cspNone, cache: revalidate,
	}
	return files, nil
}

// serve answers with the file, with its validators, so conditional and Range requests work
// (any error status http.ServeContent chooses is written as a problem).
func (f *staticFile) serve(c echo.Context) error {
	if p := checkRanges(byteRange(c.Request()), int64(len(f.body))); p != nil {
		return p
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, f.contentType)
	h.Set("Content-Security-Policy", f.csp)
	h.Set("Cache-Control", f.cache)
	h.Set("ETag", f.etag)
	w := &problemWriter{ResponseWriter: c.Response(), req: c.Request()}
	http.ServeContent(w, c.Request(), "", time.Time{}, bytes.NewReader(f.body))
	return nil
}

// mountStatic adds the routes of the static files: GET and HEAD of each, and /swagger
// redirected to /swagger/.
func mountStatic(e *echo.Echo, files map[string]*staticFile) {
	for urlPath, f := range files {
		e.Match(readMethods, urlPath, f.serve)
	}
	e.Match(readMethods, "/swagger", func(c echo.Context) error {
		return c.Redirect(http.StatusMovedPermanently, "/swagger/")
	})
}
