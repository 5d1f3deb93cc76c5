// Command consumer is the s3-signer example's Lambda: it returns a presigned S3 GET URL signed
// with the key keyrotor rotates into SIGNER_PARAMETER_NAME, read at run time through ssmcreds.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/keyrotor/keyrotor/infra/examples/s3-signer/consumer/presigner"
	"github.com/keyrotor/keyrotor/ssmcreds"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	parameter := os.Getenv("SIGNER_PARAMETER_NAME")
	if parameter == "" {
		log.Error("SIGNER_PARAMETER_NAME is not set: set it to the managed-key module's parameter_name")
		os.Exit(1)
	}
	// The Lambda role's credentials read the parameter; only the presigner signs with its key.
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("load AWS config", "error", err)
		os.Exit(1)
	}
	// The Terraform example sets both so that its grace covers them (see its precondition).
	ttl, err := secondsFromEnv("SIGNER_CACHE_TTL_SECONDS", int(ssmcreds.DefaultTTL/time.Second))
	if err != nil {
		log.Error(err.Error())
		os.Exit(1)
	}
	maxExpires, err := secondsFromEnv("SIGNER_URL_MAX_SECONDS", presigner.MaxExpiresSeconds)
	if err != nil {
		log.Error(err.Error())
		os.Exit(1)
	}
	creds := ssmcreds.New(ssm.NewFromConfig(cfg), parameter, func(o *ssmcreds.Options) {
		o.Logger = log
		o.TTL = time.Duration(ttl) * time.Second
	})
	p := presigner.New(cfg, creds, os.Getenv("SIGNER_S3_ENDPOINT"))
	p.MaxExpiresSeconds = maxExpires
	lambda.Start(func(ctx context.Context, req presigner.Request) (presigner.Response, error) {
		resp, err := p.Presign(ctx, req)
		if err != nil {
			log.Error("presign", "bucket", req.Bucket, "key", req.Key, "error", err)
			return presigner.Response{}, err
		}
		log.Info("presigned", "bucket", req.Bucket, "key", req.Key, "accessKeyId", resp.AccessKeyID, "expiresAt", resp.ExpiresAt)
		return resp, nil
	})
}

// secondsFromEnv reads a positive whole number of seconds from name, or def when it is unset.
func secondsFromEnv(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s is %q: set it to a whole number of seconds, at least 1", name, v)
	}
	return n, nil
}
