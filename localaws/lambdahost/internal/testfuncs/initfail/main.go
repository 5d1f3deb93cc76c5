// Command initfail is a test Lambda that fails during init: it exits before asking for an event,
// or, with INITFAIL_POST set, reports its failure through the Runtime API's init/error path first;
// with INITFAIL_HANG set it never finishes init.
package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	fmt.Println("initfail: configuration missing")
	if os.Getenv("INITFAIL_HANG") != "" {
		time.Sleep(time.Hour)
	}
	if os.Getenv("INITFAIL_POST") != "" {
		req, _ := http.NewRequest(http.MethodPost, "http://"+os.Getenv("AWS_LAMBDA_RUNTIME_API")+"/2018-06-01/runtime/init/error",
			strings.NewReader(`{"errorMessage":"configuration missing","errorType":"ConfigError"}`))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "ConfigError")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	os.Exit(1)
}
