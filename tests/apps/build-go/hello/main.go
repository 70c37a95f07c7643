// A Lambda function in Go with the standard library only: it speaks the Lambda Runtime
// API (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) itself, as
// aws-lambda-go does, so it needs no module from a proxy.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
)

// greeting is what the function answers with.
const greeting = "hello from a Go Lambda"

type response struct {
	Message string          `json:"message"`
	Event   json.RawMessage `json:"event"`
}

func main() {
	api := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/invocation/"
	for {
		next, err := http.Get(api + "next")
		if err != nil {
			fmt.Fprintln(os.Stderr, "runtime API:", err)
			os.Exit(1)
		}
		event, _ := io.ReadAll(next.Body)
		next.Body.Close()
		id := next.Header.Get("Lambda-Runtime-Aws-Request-Id")
		body, _ := json.Marshal(handle(event))
		answer, err := http.Post(api+id+"/response", "application/json", bytes.NewReader(body))
		if err != nil {
			fmt.Fprintln(os.Stderr, "runtime API:", err)
			os.Exit(1)
		}
		answer.Body.Close()
	}
}

func handle(event []byte) response {
	if !json.Valid(event) {
		event = []byte("null")
	}
	return response{Message: greeting, Event: event}
}
