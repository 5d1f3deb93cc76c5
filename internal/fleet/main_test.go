package fleet_test

import (
	"context"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// world is the moto server the listing's tests share: IAM users to list and their tags.
var world struct {
	iam *iam.Client
}

func TestMain(m *testing.M) {
	os.Exit(testutil.RunWithMoto(m, motoserver.Options{}, func(_ context.Context, s *motoserver.Server) error {
		world.iam = iam.NewFromConfig(motoserver.Config(s.Endpoint, s.Admin))
		return nil
	}))
}
