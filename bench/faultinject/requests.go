package main

import (
	"io"
	"net/http"
	"strconv"

	"github.com/gatehouse/gatehouse/bench/internal/harness"
)

// get returns the status code of a GET, or the kind of failure.
func get(client *http.Client, url string) string { return send(client, url, 0) }

// send GETs url, or POSTs upload bytes to it, and returns the status
// code or the kind of failure.
func send(client *http.Client, url string, upload int) string {
	method := http.MethodGet
	var body io.Reader
	if upload > 0 {
		method, body = http.MethodPost, io.LimitReader(harness.Zeros{}, int64(upload))
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return "error"
	}
	res, err := client.Do(req)
	if err != nil {
		return harness.Failure(err)
	}
	_, err = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if err != nil && res.StatusCode == 200 {
		return "200 cut short"
	}
	return strconv.Itoa(res.StatusCode)
}
