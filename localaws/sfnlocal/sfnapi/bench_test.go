package sfnapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal/sfnapi"
)

// BenchmarkFleetOfChildren runs a fleet Map of N users, each a .sync:2 child execution of a
// one-Task machine with an echo stub: the cost the server and engine add per child, with no
// Lambda or AWS work.
func BenchmarkFleetOfChildren(b *testing.B) {
	for _, n := range []int{200, 1000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			users := make([]string, n)
			for i := range users {
				users[i] = fmt.Sprintf("user-%04d", i)
			}
			input, _ := json.Marshal(map[string]any{"users": users})
			for i := 0; i < b.N; i++ {
				srv := sfnapi.New(sfnapi.Options{
					Tasks: sfnlocal.TaskInvokerFunc(func(ctx context.Context, req sfnlocal.TaskRequest) (json.RawMessage, error) {
						return req.Input, nil
					}),
					Clock: sfnlocal.NewVirtualClock(start),
				})
				ctx := context.Background()
				childArn, err := srv.CreateStateMachine(ctx, "rotate", childDef, roleArn)
				if err != nil {
					b.Fatal(err)
				}
				fleetArn, err := srv.CreateStateMachine(ctx, "fleet", `{"StartAt":"Each","States":{"Each":{"Type":"Map","ItemsPath":"$.users","MaxConcurrency":20,
					"Iterator":{"StartAt":"Rotate","States":{"Rotate":{"Type":"Task","Resource":"`+sfnapi.ResourceStartExecutionSync2+`",
					"Parameters":{"StateMachineArn":"`+childArn+`","Input":{"userName.$":"$"},"Name.$":"$"},
					"ResultSelector":{"user.$":"$.Output.userName","status.$":"$.Status"},"End":true}}},"End":true}}}`, roleArn)
				if err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				x, err := srv.StartExecution(ctx, fleetArn, "", string(input))
				if err != nil {
					b.Fatal(err)
				}
				res, err := srv.Wait(ctx, x)
				if err != nil || res.Status != "SUCCEEDED" {
					b.Fatalf("fleet %s %s %s %v", res.Status, res.Error, res.Cause, err)
				}
				b.ReportMetric(float64(time.Since(t0).Microseconds())/float64(n), "µs/child")
				srv.Close()
			}
		})
	}
}
