package consumer_test

import (
	"context"
	"fmt"
	"io"
	"log"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/keyrotor/keyrotor/ssmcreds"
)

// A consumer reads an object with the key keyrotor rotates into /keyrotor/s3-signer. Its own
// credentials (say, its Lambda role) read the parameter; only the S3 client signs with the
// rotated key. The client keeps working across rotations: the key is re-read after the TTL,
// and at once when S3 refuses a key that was deleted.
func Example() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	creds := ssmcreds.New(ssm.NewFromConfig(cfg), "/keyrotor/s3-signer")
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.Credentials = creds
		o.APIOptions = append(o.APIOptions, ssmcreds.InvalidateOnAuthFailure(creds))
	})

	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("reports"), Key: aws.String("2026/q3.txt")})
	if err != nil {
		log.Fatal(err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(body))
	// Output: quarterly report
}
