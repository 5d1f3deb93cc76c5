// Command defaultconfig is the smallest Lambda that calls AWS the way keyrotor's functions do:
// aws-lambda-go, the SDK's default configuration (config.LoadDefaultConfig), one client. The
// benchmarks build it with the functions' flags; its size is the floor under any bootstrap
// that loads the default configuration.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		panic(err)
	}
	client := sts.NewFromConfig(cfg)
	lambda.Start(func(ctx context.Context) (string, error) {
		out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.Arn), nil
	})
}
