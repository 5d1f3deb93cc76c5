package ssmcreds_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/keyrotor/keyrotor/internal/motoserver"
)

// moto is the package's one moto server, with SigV4 verification and IAM checks on, so a
// deleted key really is refused.
var moto struct {
	srv      *motoserver.Server
	kmsKeyID string
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctx := context.Background()
	srv, err := motoserver.Start(ctx, motoserver.Options{Auth: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Stop()
	key, err := kms.NewFromConfig(srv.AdminConfig()).CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("keyrotor test engine key")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "create KMS key:", err)
		return 1
	}
	moto.srv, moto.kmsKeyID = srv, aws.ToString(key.KeyMetadata.KeyId)
	return m.Run()
}

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
