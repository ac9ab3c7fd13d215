package events

import "embed"

// Schemas holds the JSON Schema (draft 2020-12) of each payload, named <subject>.schema.json.
//
//go:embed schemas/*.schema.json
var Schemas embed.FS
