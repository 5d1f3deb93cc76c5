// Package testenv is what tests and benchmarks do to a running local engine
// (internal/localenv) that keyrotor itself never does: seed a fleet of managed users, and tell
// the functions' calls apart by the session each signs with. It builds only on localenv's
// exported API and its OnCredentials hook. It is harness: no product package may import it.
package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"golang.org/x/sync/errgroup"

	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// CreateFleetUsers creates managed users (tagged keyrotor:managed=true) under an IAM path,
// each with keys access keys (0-2), as the administrator, a few at a time. A fleet execution
// with that pathPrefix rotates exactly them.
func CreateFleetUsers(ctx context.Context, env *localenv.Env, path string, names []string, keys int) error {
	return CreateFleetUsersIn(ctx, env, "", path, names, keys)
}

// CreateFleetUsersIn is CreateFleetUsers in account ("": the engine's own).
func CreateFleetUsersIn(ctx context.Context, env *localenv.Env, account, path string, names []string, keys int) error {
	if keys < 0 || keys > 2 {
		return fmt.Errorf("create fleet users: IAM allows 0-2 access keys, not %d", keys)
	}
	cfg, err := env.AccountConfig(account)
	if err != nil {
		return err
	}
	client := iam.NewFromConfig(cfg)
	var g errgroup.Group
	g.SetLimit(8)
	for _, name := range names {
		g.Go(func() error {
			if _, err := client.CreateUser(ctx, &iam.CreateUserInput{
				UserName: aws.String(name), Path: aws.String(path),
				Tags: []iamtypes.Tag{{Key: aws.String(rotation.ManagedTagKey), Value: aws.String(rotation.ManagedTagValue)}},
			}); err != nil {
				return fmt.Errorf("create user %s: %w", name, err)
			}
			for range keys {
				if _, err := client.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)}); err != nil {
					return fmt.Errorf("create access key of %s: %w", name, err)
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// Sessions records the AssumeRole session each function of a local engine signs with. Pass
// Record as localenv.Options.OnCredentials.
type Sessions struct {
	mu sync.Mutex
	of map[string]session
}

type session struct {
	accessKeyID string
	expires     time.Time
}

// Record is localenv.Options.OnCredentials: fn now signs with accessKeyID until expires.
func (s *Sessions) Record(fn, accessKeyID string, expires time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.of == nil {
		s.of = map[string]session{}
	}
	s.of[fn] = session{accessKeyID, expires}
}

// Of returns the access key id fn signs with now and when its session expires ("" if fn was
// never deployed).
func (s *Sessions) Of(fn string) (accessKeyID string, expires time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.of[fn]
	return c.accessKeyID, c.expires
}

// Function maps an access key id to the function that signs with it now ("" if none).
func (s *Sessions) Function(accessKeyID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for fn, c := range s.of {
		if c.accessKeyID == accessKeyID {
			return fn
		}
	}
	return ""
}

// Run is the body of a TestMain whose tests share one local engine, stored in *env: without
// moto_server it skips the package (exit 0, saying so), else it starts the engine with opts
// (within two minutes), runs the tests, stops the engine and returns the exit code.
func Run(m *testing.M, env **localenv.Env, opts localenv.Options) int {
	if _, err := exec.LookPath("moto_server"); err != nil {
		fmt.Println("skipping: moto_server is not installed:", motoserver.InstallHint)
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, err := localenv.Up(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer e.Close()
	*env = e
	return m.Run()
}
