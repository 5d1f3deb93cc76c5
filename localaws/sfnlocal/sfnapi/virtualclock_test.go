package sfnapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/localaws/sfnlocal/sfnapi"
)

// On the server's virtual clock a parent Task waiting on a .sync child lets the child's
// Waits pass, and carries on at the very instant the child ends: its own TimeoutSeconds,
// due a second later, does not fire in between.
func TestSyncParentCarriesOnWhenItsChildEndsInVirtualTime(t *testing.T) {
	cases := []struct {
		name, child, parent string // parent: %CHILD% stands for the child machine's ARN
		parentAfter         time.Duration
	}{
		{"task timeout just after the child's end",
			`{"StartAt":"Nap","States":{"Nap":{"Type":"Wait","Seconds":599,"Next":"Rotate"},"Rotate":{"Type":"Task","Resource":"` + lambdaArn("echo") + `","End":true}}}`,
			`{"StartAt":"Child","States":{"Child":{"Type":"Task","Resource":"` + sfnapi.ResourceStartExecutionSync2 + `","TimeoutSeconds":600,
			  "Parameters":{"StateMachineArn":"%CHILD%","Input":{},"Name.$":"$.userName"},"End":true}}}`,
			599 * time.Second},
		{"a sibling branch of the parent sleeps meanwhile",
			`{"StartAt":"Nap","States":{"Nap":{"Type":"Wait","Seconds":100,"End":true}}}`,
			`{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
			  {"StartAt":"Child","States":{"Child":{"Type":"Task","Resource":"` + sfnapi.ResourceStartExecutionSync + `","TimeoutSeconds":101,
			    "Parameters":{"StateMachineArn":"%CHILD%","Input":{},"Name.$":"$.userName"},"End":true}}},
			  {"StartAt":"Nap","States":{"Nap":{"Type":"Wait","Seconds":50,"Next":"Echo"},"Echo":{"Type":"Task","Resource":"` + lambdaArn("echo") + `","End":true}}}]}}}`,
			100 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			childArn := h.create(t, "child", tc.child)
			parentArn := h.create(t, "parent", strings.ReplaceAll(tc.parent, "%CHILD%", childArn))
			x, err := h.srv.StartExecution(context.Background(), parentArn, "", `{"userName":"vera"}`)
			if err != nil {
				t.Fatal(err)
			}
			p := h.wait(t, x)
			if p.Status != "SUCCEEDED" {
				t.Fatalf("parent %s %s %s", p.Status, p.Error, p.Cause)
			}
			if got := p.StopDate.Sub(p.StartDate); got != tc.parentAfter {
				t.Errorf("parent ran %v, want %v (as long as its child)", got, tc.parentAfter)
			}
		})
	}
}
