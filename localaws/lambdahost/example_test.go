package lambdahost_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/keyrotor/keyrotor/localaws/lambdahost"
)

// Example shows how a local stack hosts a function: deploy the built bootstrap with its role's
// credentials, serve the Lambda API for the AWS CLI and SDKs, and invoke it directly.
func Example() {
	h := lambdahost.New(lambdahost.Options{LogSink: lambdahost.LogTo(slog.New(slog.NewJSONHandler(os.Stderr, nil))), IdleTimeout: 5 * time.Minute})
	defer h.Close()
	arn, err := h.Deploy(lambdahost.Function{
		Name: "echo", Path: bins["echo"], Timeout: 10 * time.Second, MaxConcurrency: 2,
		// Credentials of the function's own role; AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN
		// values are redacted from every captured log line.
		Env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example-secret"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &http.Server{Handler: h.Handler()} // aws lambda invoke --endpoint-url http://<l.Addr()>
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	res, err := h.Invoke(context.Background(), arn, []byte(`{"message":"hi"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.FunctionError == "", res.InitDuration > 0)
	// Output: true true
}
