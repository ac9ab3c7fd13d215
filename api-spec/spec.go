// Package apispec embeds openapi.yaml, the single source of the HTTP contract, so the API
// can serve it, validate requests against it and test its responses with it.
package apispec

import _ "embed"

// OpenAPI is the OpenAPI 3 document of the HTTP API.
//
//go:embed openapi.yaml
var OpenAPI []byte
