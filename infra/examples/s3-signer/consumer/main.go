// Command consumer is the s3-signer example's Lambda: it returns a presigned S3 GET URL signed
// with the key keyrotor rotates into SIGNER_PARAMETER_NAME.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/keyrotor/keyrotor/infra/examples/s3-signer/consumer/presigner"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("load AWS config", "error", err)
		os.Exit(1)
	}
	p := &presigner.Presigner{
		SSM:       ssm.NewFromConfig(cfg),
		Parameter: os.Getenv("SIGNER_PARAMETER_NAME"),
		Region:    cfg.Region,
		Endpoint:  os.Getenv("SIGNER_S3_ENDPOINT"),
	}
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
