package sfnapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal/sfnapi"
)

// A local Step Functions endpoint: Task states go to a TaskInvoker (here a stub; keyrotor
// wires the Lambda host), and any sfn client or the AWS CLI talks to the HTTP handler.
func Example() {
	srv := sfnapi.New(sfnapi.Options{
		Tasks: sfnlocal.TaskInvokerFunc(func(ctx context.Context, req sfnlocal.TaskRequest) (json.RawMessage, error) {
			return json.RawMessage(`{"verified":true}`), nil
		}),
	})
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()

	ctx := context.Background()
	client := sfn.New(sfn.Options{Region: "us-east-1", BaseEndpoint: aws.String(hs.URL), Credentials: aws.AnonymousCredentials{}})
	created, err := client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name:       aws.String("verify"),
		RoleArn:    aws.String("arn:aws:iam::123456789012:role/keyrotor-sfn"),
		Definition: aws.String(`{"StartAt":"Verify","States":{"Verify":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:verifykey","End":true}}}`),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	started, err := client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: created.StateMachineArn, Name: aws.String("first"), Input: aws.String(`{"userName":"s3-signer"}`)})
	if err != nil {
		fmt.Println(err)
		return
	}
	x, err := srv.Wait(ctx, aws.ToString(started.ExecutionArn)) // or poll DescribeExecution
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(x.Name, x.Status, string(x.Output))

	_, err = client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: created.StateMachineArn, Name: aws.String("first")})
	var exists *types.ExecutionAlreadyExists // errors arrive as the SDK's typed errors
	fmt.Println(errors.As(err, &exists))
	// Output:
	// first SUCCEEDED {"verified":true}
	// true
}
