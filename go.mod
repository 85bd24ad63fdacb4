module github.com/gatehouse/gatehouse

go 1.26.8

require github.com/goccy/go-yaml v1.18.0
