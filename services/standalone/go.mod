module github.com/factorial-service/factorial/services/standalone

go 1.26.8

require (
	github.com/factorial-service/factorial/events v0.0.0-00010101000000-000000000000
	github.com/factorial-service/factorial/migrations v0.0.0-00010101000000-000000000000
	github.com/factorial-service/factorial/platform v0.0.0-00010101000000-000000000000
	github.com/factorial-service/factorial/services/api v0.0.0-00010101000000-000000000000
	github.com/factorial-service/factorial/services/calculator v0.0.0-00010101000000-000000000000
)

replace (
	github.com/factorial-service/factorial/events => ../../events
	github.com/factorial-service/factorial/migrations => ../../migrations
	github.com/factorial-service/factorial/platform => ../../platform
	github.com/factorial-service/factorial/services/api => ../api
	github.com/factorial-service/factorial/services/calculator => ../calculator
)
