package consumer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go/middleware"

	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/logbuffer"
	"github.com/keyrotor/keyrotor/ssmcreds"
)

// countingSSM counts the parameter reads the provider makes.
type countingSSM struct {
	*ssm.Client
	reads atomic.Int64
}

func (c *countingSSM) GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	c.reads.Add(1)
	return c.Client.GetParameter(ctx, in, opts...)
}

// countingInvalidator counts invalidations of the consumer's credentials cache.
type countingInvalidator struct {
	*aws.CredentialsCache
	n atomic.Int64
}

func (c *countingInvalidator) Invalidate() { c.n.Add(1); c.CredentialsCache.Invalidate() }

// consumerStats is what the consumer loop saw.
type consumerStats struct {
	mu                 sync.Mutex
	requests           int // S3 operations
	failed             int // operations that returned an error (after the SDK's retries)
	retries            int // attempts beyond the first, over all operations
	authFailedAttempts int // attempts refused with an authentication failure
	maxAttempts        int // most attempts one operation took
	failures           []string
}

func (s *consumerStats) record(md middleware.Metadata, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if err != nil {
		s.failed++
		s.failures = append(s.failures, err.Error())
		return
	}
	results, _ := retry.GetAttemptResults(md)
	s.retries += max(len(results.Results)-1, 0)
	s.maxAttempts = max(s.maxAttempts, len(results.Results))
	for _, r := range results.Results {
		if ssmcreds.IsAuthFailure(r.Err) {
			s.authFailedAttempts++
		}
	}
}

func (s *consumerStats) fail(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed++
	s.failures = append(s.failures, msg)
}

func TestConsumerFollowsThreeRotationsWithoutFailedRequests(t *testing.T) {
	tests := []struct {
		name   string
		format string
		// workers send requests concurrently; with more than one, several requests in flight
		// may meet a deleted key, each retried once.
		workers int
	}{
		{"json format", rotation.FormatJSON, 1},
		{"raw format", rotation.FormatRaw, 1},
		{"json format, 4 concurrent workers", rotation.FormatJSON, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			admin := moto.srv.AdminConfig()
			user := fmt.Sprintf("signer-%s-%d", tt.format, tt.workers)
			bucket := fmt.Sprintf("reports-%s-%d", tt.format, tt.workers)
			param := rotation.DefaultParameterPrefix + user
			iamc := iam.NewFromConfig(admin)
			if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user), Tags: []iamtypes.Tag{
				{Key: aws.String(rotation.ManagedTagKey), Value: aws.String(rotation.ManagedTagValue)},
			}}); err != nil {
				t.Fatal(err)
			}
			policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":"arn:aws:s3:::%s/*"}]}`, bucket)
			if _, err := iamc.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String("objects"), PolicyDocument: aws.String(policy)}); err != nil {
				t.Fatal(err)
			}
			if _, err := s3.NewFromConfig(admin, func(o *s3.Options) { o.UsePathStyle = true }).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
				t.Fatal(err)
			}

			stepLogs, consumerLogs := &logbuffer.Buffer{}, &logbuffer.Buffer{}
			steps := rotation.NewSteps(admin, rotation.Config{
				KMSKeyID: moto.kmsKeyID, ParameterPrefix: rotation.DefaultParameterPrefix, PropagationWindow: 2 * time.Minute,
			}, slog.New(slog.NewJSONHandler(stepLogs, nil)))
			var secrets []string
			var errTexts []string
			extensions := 0
			// rotate runs the steps as the state machine would with grace 0, calling after
			// each one; deactivate is asked again while an old key is still in use.
			rotate := func(n int, after func(step string)) rotation.Rotation {
				t.Helper()
				zero := 0
				r := rotation.Rotation{UserName: user, GraceSeconds: &zero, InactiveSeconds: &zero, Format: tt.format}
				input, _ := json.Marshal(r) // Begin acts only for an execution started with its input
				started, err := sfn.NewFromConfig(admin).StartExecution(ctx, &sfn.StartExecutionInput{
					StateMachineArn: aws.String(moto.stateMachine), Name: aws.String(fmt.Sprintf("%s-%d", user, n)), Input: aws.String(string(input)),
				})
				if err != nil {
					t.Fatal(err)
				}
				exec := aws.ToString(started.ExecutionArn)
				for _, action := range []string{"begin", "create", "store", "verify", "deactivate", "delete"} {
					for {
						out, err := steps.Actions()[action](ctx, rotation.Request{Action: action, ExecutionID: exec, Rotation: r})
						if err != nil {
							errTexts = append(errTexts, fmt.Sprintf("%+v", err))
							t.Fatalf("rotation %d, %s: %v", n, action, err)
						}
						r = out
						after(action)
						if action != "deactivate" || !r.StillInUse {
							break
						}
						extensions++
					}
				}
				secrets = append(secrets, storedSecret(t, admin, param, tt.format))
				return r
			}
			first := rotate(0, func(string) {})

			reader := &countingSSM{Client: ssm.NewFromConfig(admin)}
			creds := ssmcreds.New(reader, param, func(o *ssmcreds.Options) {
				o.Format = ssmcreds.Format(tt.format)
				o.TTL = time.Hour // longer than the test: only an auth failure makes it re-read
				o.Logger = slog.New(slog.NewJSONHandler(consumerLogs, nil))
			})
			invalidations := &countingInvalidator{CredentialsCache: creds}
			consumerCfg := moto.srv.Config(aws.Credentials{})
			client := s3.NewFromConfig(consumerCfg, func(o *s3.Options) {
				o.UsePathStyle = true
				o.Credentials = creds
				o.APIOptions = append(o.APIOptions, ssmcreds.InvalidateOnAuthFailure(invalidations))
			})

			// The consumer's workers put and get objects until stopped (bounded). The driver
			// below waits for a few of their iterations after every step, so requests meet
			// every phase of each rotation.
			stats := &consumerStats{}
			var iterations atomic.Int64
			progressed := make(chan struct{}, 1)
			stop, stopped := make(chan struct{}), make(chan struct{})
			const maxIterations = 5000 // per worker
			work := func(w int) {
				for i := 0; i < maxIterations; i++ {
					select {
					case <-stop:
						return
					default:
					}
					key, body := fmt.Sprintf("signed/%d/%d", w, i), fmt.Sprintf("payload %d/%d", w, i)
					put, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
					var md middleware.Metadata
					if put != nil {
						md = put.ResultMetadata
					}
					stats.record(md, err)
					got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
					md = middleware.Metadata{}
					if got != nil {
						md = got.ResultMetadata
					}
					stats.record(md, err)
					if err == nil {
						b, rerr := io.ReadAll(got.Body)
						got.Body.Close()
						if rerr != nil || string(b) != body {
							stats.fail(fmt.Sprintf("GetObject %s returned %q (%v), want %q", key, b, rerr, body))
						}
					}
					iterations.Add(1)
					select {
					case progressed <- struct{}{}:
					default:
					}
				}
			}
			var workers sync.WaitGroup
			for w := range tt.workers {
				workers.Go(func() { work(w) })
			}
			go func() { workers.Wait(); close(stopped) }()
			waitIterations := func(n int64) {
				t.Helper()
				target := iterations.Load() + n
				for iterations.Load() < target {
					select {
					case <-progressed:
					case <-stopped:
						t.Fatalf("consumer stopped after %d iterations", iterations.Load())
					}
				}
			}

			waitIterations(3)
			previous := first
			for n := 1; n <= 3; n++ {
				r := rotate(n, func(string) { waitIterations(3) })
				if len(r.DeletedAccessKeyIDs) != 1 || r.DeletedAccessKeyIDs[0] != previous.NewAccessKeyID {
					t.Fatalf("rotation %d deleted %v, want the previous key %s", n, r.DeletedAccessKeyIDs, previous.NewAccessKeyID)
				}
				got, err := creds.Retrieve(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if got.AccessKeyID != r.NewAccessKeyID {
					t.Fatalf("after rotation %d and the old key's deletion the consumer signs with %s, want the new key %s", n, got.AccessKeyID, r.NewAccessKeyID)
				}
				previous = r
			}
			close(stop)
			<-stopped

			stats.mu.Lock()
			defer stats.mu.Unlock()
			refused, inv, reads := stats.authFailedAttempts, int(invalidations.n.Load()), int(reader.reads.Load())
			t.Logf("format %s, %d worker(s): 3 rotations (deactivation postponed %d times while the old key was in use): %d S3 requests, %d failed, %d retried (at most %d attempts per request), %d attempts refused as unauthenticated, %d cache invalidations, %d parameter reads",
				tt.format, tt.workers, extensions, stats.requests, stats.failed, stats.retries, stats.maxAttempts, refused, inv, reads)
			if stats.failed != 0 {
				t.Errorf("%d requests failed, want 0: %s", stats.failed, strings.Join(stats.failures, "; "))
			}
			if stats.maxAttempts > 2 || stats.retries != refused {
				t.Errorf("at most %d attempts per request and %d retries for %d refused attempts; want every retry to follow a refused key, once per request",
					stats.maxAttempts, stats.retries, refused)
			}
			if tt.workers == 1 {
				// Each deletion is met by exactly one refused attempt, which invalidates the
				// cache and is retried once with the re-read key.
				if refused != 3 || inv != 3 || reads != 4 {
					t.Errorf("refused attempts %d, invalidations %d, parameter reads %d; want 3, 3 and 4 (once at start, once after each deletion)", refused, inv, reads)
				}
			} else if refused < 3 || refused > 3*tt.workers || inv < 3 || inv > refused || reads < 4 || reads > 1+inv {
				// Each deletion meets at most one request per worker; a refusal of a key the
				// cache no longer holds does not invalidate it again.
				t.Errorf("refused attempts %d, invalidations %d, parameter reads %d; want 3 ≤ refused ≤ %d, 3 ≤ invalidations ≤ refused, 4 ≤ reads ≤ 1 + invalidations",
					refused, inv, reads, 3*tt.workers)
			}
			if min := int(3 * 6 * 3 * 2); stats.requests < min {
				t.Errorf("only %d requests, want at least %d (3 iterations of 2 after every step)", stats.requests, min)
			}
			for _, s := range secrets {
				for name, text := range map[string]string{
					"consumer logs": consumerLogs.String(), "step logs": stepLogs.String(),
					"errors": strings.Join(append(errTexts, stats.failures...), "\n"),
				} {
					if strings.Contains(text, s) {
						t.Errorf("a secret access key appears in the %s", name)
					}
				}
			}
			if !strings.Contains(consumerLogs.String(), `"accessKeyId":"`+previous.NewAccessKeyID+`"`) {
				t.Errorf("consumer logs do not name the last key read: %s", consumerLogs.String())
			}
		})
	}
}

// storedSecret reads the secret the parameter holds, for the leak scan.
func storedSecret(t *testing.T, cfg aws.Config, param, format string) string {
	t.Helper()
	out, err := ssm.NewFromConfig(cfg).GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(param), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	value := aws.ToString(out.Parameter.Value)
	if format == rotation.FormatRaw {
		return value
	}
	var k struct{ SecretAccessKey string }
	if err := json.Unmarshal([]byte(value), &k); err != nil || len(k.SecretAccessKey) < 20 {
		t.Fatalf("parameter %s does not hold a JSON key", param)
	}
	return k.SecretAccessKey
}
