// Command sleeper is a test Lambda that sleeps for the event's milliseconds, ignoring its deadline
// the way a stuck handler does. With Barrier set it instead waits until Parties invocations have
// each left a file in that directory, which only concurrent instances can achieve.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

type event struct {
	SleepMS int
	Barrier string
	Parties int
}

func main() {
	lambda.Start(func(e event) (int, error) {
		pid := os.Getpid()
		fmt.Println("sleeper pid", pid, "sleeping", e.SleepMS, "ms")
		if e.Barrier != "" {
			if err := os.WriteFile(filepath.Join(e.Barrier, strconv.Itoa(pid)), nil, 0o600); err != nil {
				return 0, err
			}
			for {
				arrived, err := os.ReadDir(e.Barrier)
				if err != nil {
					return 0, err
				}
				if len(arrived) >= e.Parties {
					return pid, nil
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		time.Sleep(time.Duration(e.SleepMS) * time.Millisecond)
		return pid, nil
	})
}
