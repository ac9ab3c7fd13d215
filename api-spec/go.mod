module github.com/factorial-service/factorial/api-spec

go 1.26.8
