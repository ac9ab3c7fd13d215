module github.com/factorial-service/factorial/platform

go 1.26.8

require github.com/factorial-service/factorial/events v0.0.0-00010101000000-000000000000

replace github.com/factorial-service/factorial/events => ../events
