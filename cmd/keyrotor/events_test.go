package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/harness/infracheck"
	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/faultproxy"
)

// modulePattern is the managed-key module's event pattern (local.event_pattern) for user and
// parameter of the engine's own account, as Terraform's jsonencode renders it.
func modulePattern(t *testing.T, user, parameter string) string {
	t.Helper()
	root, err := deployed.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	mods, err := infracheck.LoadModules(root)
	if err != nil {
		t.Fatal(err)
	}
	expr, ok := mods["infra/modules/managed-key"].Local("event_pattern")
	if !ok {
		t.Fatal("managed-key has no local.event_pattern")
	}
	v, diags := expr.Value(&hcl.EvalContext{
		Functions: map[string]function.Function{"merge": stdlib.MergeFunc},
		Variables: map[string]cty.Value{
			"var":   cty.ObjectVal(map[string]cty.Value{"account_id": cty.NullVal(cty.String)}),
			"local": cty.ObjectVal(map[string]cty.Value{"user_name": cty.StringVal(user), "parameter_name": cty.StringVal(parameter)}),
		},
	})
	if diags.HasErrors() {
		t.Fatalf("local.event_pattern: %s", diags)
	}
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The events of a rotated, a rolled-back and a refused rotation, published by the real
// functions on moto's EventBridge, each reach the target of a rule carrying the managed-key
// module's pattern for its user (moto's own pattern matching decides), and carry no secret.
func TestRotationOutcomesArePublishedAndMatchTheModulesPattern(t *testing.T) {
	useLocal(t)
	ctx := context.Background()
	admin := env.AdminConfig()
	eb, q := eventbridge.NewFromConfig(admin), sqs.NewFromConfig(admin)
	users := map[string]string{ // user → the outcome its rotation must end with
		"events-rotated": rotation.OutcomeRotated, "events-rolledback": rotation.OutcomeRolledBack, "events-refused": rotation.OutcomeRefused,
	}
	queues := map[string]string{}
	for user := range users {
		param := rotation.DefaultParameterPrefix + user
		if _, err := env.CreateManagedUser(ctx, localenv.ManagedUser{Name: user, Keys: 1, Parameter: param, Unmanaged: user == "events-refused"}); err != nil {
			t.Fatal(err)
		}
		qo, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(user)})
		if err != nil {
			t.Fatal(err)
		}
		attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: qo.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		if err != nil {
			t.Fatal(err)
		}
		queues[user] = aws.ToString(qo.QueueUrl)
		if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(user), EventPattern: aws.String(modulePattern(t, user, param))}); err != nil {
			t.Fatal(err)
		}
		if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(user), Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(attrs.Attributes["QueueArn"])}}}); err != nil {
			t.Fatal(err)
		}
	}
	// Rolled back: STS refuses the new key for good (AccessDenied is not retried): VerifyKey
	// fails, the parameter is restored and the new key deleted.
	env.Proxy.AddRule(faultproxy.Rule{Service: "sts", Action: "GetCallerIdentity", Times: 1, Fault: faultproxy.AccessDenied})
	defer env.Proxy.ClearRules()
	if code, stdout, stderr := cli(t, "rotate", "--user", "events-rolledback", "--grace", "0", "--inactive", "0", "--wait"); code != exitFailed {
		t.Fatalf("the rotation meant to roll back exited %d:\n%s\n%s", code, stdout, stderr)
	}
	env.Proxy.ClearRules()
	if code, stdout, stderr := cli(t, "rotate", "--user", "events-rotated", "--grace", "0", "--inactive", "0", "--wait"); code != exitOK {
		t.Fatalf("rotate exited %d:\n%s\n%s", code, stdout, stderr)
	}
	if code, stdout, stderr := cli(t, "rotate", "--user", "events-refused", "--wait"); code != exitFailed || !strings.Contains(stdout+stderr, rotation.UserNotManaged) {
		t.Fatalf("the rotation of an unmanaged user exited %d:\n%s\n%s", code, stdout, stderr)
	}

	for user, outcome := range users {
		var bodies []string
		testutil.WaitFor(t, 30*time.Second, "the rotation event of "+user, func() bool {
			out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queues[user]), MaxNumberOfMessages: 10})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range out.Messages {
				bodies = append(bodies, aws.ToString(m.Body))
			}
			return len(bodies) > 0
		})
		if len(bodies) != 1 {
			t.Errorf("%s: %d events reached the module's rule, want 1", user, len(bodies))
		}
		var ev struct {
			Source     string               `json:"source"`
			DetailType string               `json:"detail-type"`
			Detail     rotation.EventDetail `json:"detail"`
		}
		if err := json.Unmarshal([]byte(bodies[0]), &ev); err != nil {
			t.Fatalf("%s: the event is not JSON: %v", user, err)
		}
		d := ev.Detail
		if ev.Source != rotation.EventSource || ev.DetailType != rotation.EventDetailType || d.Outcome != outcome || d.UserName != user ||
			(d.ParameterName != rotation.DefaultParameterPrefix+user && outcome != rotation.OutcomeRefused) || d.Account != localenv.AccountID || !strings.HasPrefix(d.ExecutionARN, "arn:aws:states:") {
			t.Errorf("%s: event %s / %s %+v, want outcome %q", user, ev.Source, ev.DetailType, d, outcome)
		}
		switch outcome {
		case rotation.OutcomeRotated:
			if d.NewAccessKeyID == "" || len(d.RetiredAccessKeyIDs) != 1 || len(d.DeletedAccessKeyIDs) != 1 {
				t.Errorf("rotated: new %q retired %v deleted %v", d.NewAccessKeyID, d.RetiredAccessKeyIDs, d.DeletedAccessKeyIDs)
			}
		default:
			if d.Error == "" || d.Cause == "" {
				t.Errorf("%s: the event says no error or cause: %+v", outcome, d)
			}
		}
		if strings.Contains(bodies[0], "SecretAccessKey") || strings.Contains(bodies[0], "sealedSecret") {
			t.Errorf("%s: the event carries secret material", user)
		}
		fmt.Printf("event %s: %s\n", outcome, bodies[0])
	}
}
