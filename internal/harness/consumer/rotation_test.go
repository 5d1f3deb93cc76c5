package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/logbuffer"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// consumerSummary is what a consumer loop saw, in any language.
type consumerSummary struct {
	Requests           int      `json:"requests"`           // S3 operations
	Failed             int      `json:"failed"`             // operations that returned an error (after the SDK's retries)
	Retries            int      `json:"retries"`            // attempts beyond the first, over all operations
	MaxAttempts        int      `json:"maxAttempts"`        // most attempts one operation took
	AuthFailedAttempts int      `json:"authFailedAttempts"` // attempts refused with an authentication failure
	Reads              int      `json:"reads"`              // parameter reads
	Keys               []string `json:"keys"`               // AccessKeyIds signed with, in order
	Failures           []string `json:"failures"`
	// Output is everything the consumer wrote (logs, errors), for the secret scan.
	Output string `json:"-"`
}

// consumerRun is a running consumer loop: in process (Go) or a node/python process.
type consumerRun interface {
	// progress blocks until the loop has done n more iterations, or fails the test.
	progress(t *testing.T, n int64)
	// reads is how many times the consumer has read the parameter so far.
	reads() int
	// stop ends the loop and returns what it saw.
	stop(t *testing.T) consumerSummary
}

// consumerCase is one consumer language and setting, run across three rotations.
type consumerCase struct {
	lang    string // go, node, python
	format  string
	workers int
	// ttl is the consumer's TTL: an hour means only an auth failure makes it re-read, so the
	// counts are exact; a second makes it also re-read after the TTL, before expiry.
	ttl time.Duration
}

func (c consumerCase) name() string {
	return fmt.Sprintf("%s %s format, %d worker(s), TTL %s", c.lang, c.format, c.workers, c.ttl)
}

// rotationFixture is a managed signer user whose key keyrotor's steps rotate, and its bucket.
type rotationFixture struct {
	user, bucket, param string
	stepLogs            *logbuffer.Buffer
	steps               *rotation.Steps
	secrets, errTexts   []string
	extensions          int
}

func newRotationFixture(t *testing.T, id, format string) *rotationFixture {
	t.Helper()
	ctx := context.Background()
	admin := moto.srv.AdminConfig()
	f := &rotationFixture{user: "signer-" + id, bucket: "reports-" + id, stepLogs: &logbuffer.Buffer{}}
	f.param = rotation.DefaultParameterPrefix + f.user
	iamc := iam.NewFromConfig(admin)
	// The user's name is this fixture's alone (motoserver.CreateOnce).
	resent, err := motoserver.CreateOnce(func(opt func(*iam.Options)) error {
		_, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(f.user), Tags: []iamtypes.Tag{
			{Key: aws.String(rotation.ManagedTagKey), Value: aws.String(rotation.ManagedTagValue)},
		}}, opt)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if resent != "" {
		t.Logf("create user %s: the SDK sent it again after: %s", f.user, resent)
	}
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":"arn:aws:s3:::%s/*"}]}`, f.bucket)
	if _, err := iamc.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(f.user), PolicyName: aws.String("objects"), PolicyDocument: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3.NewFromConfig(admin, func(o *s3.Options) { o.UsePathStyle = true }).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(f.bucket)}); err != nil {
		t.Fatal(err)
	}
	f.steps = rotation.NewSteps(admin, rotation.Config{
		KMSKeyID: moto.kmsKeyID, ParameterPrefix: rotation.DefaultParameterPrefix, PropagationWindow: 2 * time.Minute,
	}, slog.New(slog.NewJSONHandler(f.stepLogs, nil)))
	return f
}

// rotate runs the steps as the state machine would with grace 0, calling after each one;
// deactivate is asked again while an old key is still in use.
func (f *rotationFixture) rotate(t *testing.T, n int, format string, after func(step string)) rotation.Rotation {
	t.Helper()
	ctx := context.Background()
	admin := moto.srv.AdminConfig()
	zero := 0
	r := rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: &zero, InactiveSeconds: &zero, Format: format}}
	input, _ := json.Marshal(r) // Begin acts only for an execution started with its input
	started, err := sfn.NewFromConfig(admin).StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(moto.stateMachine), Name: aws.String(fmt.Sprintf("%s-%d", f.user, n)), Input: aws.String(string(input)),
	})
	if err != nil {
		t.Fatal(err)
	}
	exec := aws.ToString(started.ExecutionArn)
	for _, action := range []string{"begin", "create", "store", "verify", "deactivate", "delete"} {
		for lost := 0; ; {
			out, err := f.steps.Actions()[action](ctx, rotation.Request{Action: action, ExecutionID: exec, Rotation: r})
			// The state machine retries a step that failed ServiceUnavailable (an answer lost
			// or a 5xx), and so does this driver, a few times.
			var named *rotation.Error
			if errors.As(err, &named) && named.Name == rotation.ServiceUnavailable && lost < 3 {
				lost++
				t.Logf("rotation %d, %s: %v; retried as the state machine does", n, action, err)
				continue
			}
			if err != nil {
				f.errTexts = append(f.errTexts, fmt.Sprintf("%+v", err))
				t.Fatalf("rotation %d, %s: %v", n, action, err)
			}
			r = out
			after(action)
			if action != "deactivate" || !r.StillInUse {
				break
			}
			f.extensions++
		}
	}
	f.secrets = append(f.secrets, storedSecret(t, admin, f.param, format))
	return r
}

// TestConsumersFollowThreeRotationsWithoutFailedRequests runs each consumer (Go ssmcreds, the
// Node.js and the Python package) signing S3 requests while keyrotor rotates its key three
// times with no grace: every retired key is met by a refused attempt that re-reads the
// parameter and is retried once, and no request fails.
func TestConsumersFollowThreeRotationsWithoutFailedRequests(t *testing.T) {
	hour := time.Hour
	tests := []consumerCase{
		{"go", rotation.FormatJSON, 1, hour},
		{"go", rotation.FormatRaw, 1, hour},
		{"go", rotation.FormatJSON, 4, hour},
		{"go", rotation.FormatJSON, 1, time.Second},
		{"node", rotation.FormatJSON, 1, hour},
		{"node", rotation.FormatRaw, 1, hour},
		{"node", rotation.FormatJSON, 4, hour},
		{"node", rotation.FormatJSON, 1, time.Second},
		{"python", rotation.FormatJSON, 1, hour},
		{"python", rotation.FormatRaw, 1, hour},
		{"python", rotation.FormatJSON, 4, hour},
		{"python", rotation.FormatJSON, 1, time.Second},
	}
	for i, tt := range tests {
		t.Run(tt.name(), func(t *testing.T) {
			f := newRotationFixture(t, fmt.Sprintf("%s-%d", tt.lang, i), tt.format)
			first := f.rotate(t, 0, tt.format, func(string) {})

			run := startConsumer(t, tt, f)
			run.progress(t, 3)
			previous := first
			rotations := []rotation.Rotation{}
			for n := 1; n <= 3; n++ {
				r := f.rotate(t, n, tt.format, func(string) { run.progress(t, 3) })
				if len(r.DeletedAccessKeyIDs) != 1 || r.DeletedAccessKeyIDs[0] != previous.NewAccessKeyID {
					t.Fatalf("rotation %d deleted %v, want the previous key %s", n, r.DeletedAccessKeyIDs, previous.NewAccessKeyID)
				}
				rotations = append(rotations, r)
				previous = r
			}
			run.progress(t, 3) // signed with the last key
			if tt.ttl < time.Minute {
				// Wait (bounded by the loop's own limit) for a re-read the TTL made, not a refusal.
				for deadline := time.Now().Add(30 * time.Second); run.reads() < 6 && time.Now().Before(deadline); {
					run.progress(t, 1)
				}
			}
			got := run.stop(t)

			followed := 0
			for _, r := range rotations {
				for _, k := range got.Keys {
					if k == r.NewAccessKeyID {
						followed++
						break
					}
				}
			}
			results.add(tt.lang, got, followed)
			t.Logf("%s: 3 rotations (deactivation postponed %d times while the old key was in use): %d S3 requests, %d failed, %d retried (at most %d attempts per request), %d attempts refused as unauthenticated, %d parameter reads, keys %v",
				tt.name(), f.extensions, got.Requests, got.Failed, got.Retries, got.MaxAttempts, got.AuthFailedAttempts, got.Reads, got.Keys)
			if got.Failed != 0 {
				t.Errorf("%d requests failed, want 0: %s", got.Failed, strings.Join(got.Failures, "; "))
			}
			if followed != 3 {
				t.Errorf("the consumer signed with the keys %v; want each rotation's new key (%d of 3 seen)", got.Keys, followed)
			}
			if got.MaxAttempts > 2 || got.Retries != got.AuthFailedAttempts {
				t.Errorf("at most %d attempts per request and %d retries for %d refused attempts; want every retry to follow a refused key, once per request",
					got.MaxAttempts, got.Retries, got.AuthFailedAttempts)
			}
			switch refused, reads := got.AuthFailedAttempts, got.Reads; {
			case tt.ttl < time.Minute:
				// Re-reads after the TTL may find a new key before its predecessor is deleted.
				if reads < 1+refused+1 {
					t.Errorf("%d parameter reads for %d refused attempts with a TTL of %s; want at least one re-read after the TTL", reads, refused, tt.ttl)
				}
			case tt.workers == 1:
				// The retired-key case: each deletion is met by exactly one refused attempt,
				// which re-reads the key and is retried once with it.
				if refused != 3 || reads != 4 {
					t.Errorf("refused attempts %d, parameter reads %d; want 3 and 4 (once at start, once after each deletion)", refused, reads)
				}
			default:
				// Each deletion meets at most one request per worker; a refusal of a key the
				// consumer no longer holds does not re-read it again.
				if refused < 3 || refused > 3*tt.workers || reads < 4 || reads > 1+refused {
					t.Errorf("refused attempts %d, parameter reads %d; want 3 ≤ refused ≤ %d and 4 ≤ reads ≤ 1 + refused", refused, reads, 3*tt.workers)
				}
			}
			if min := 3 * 6 * 3 * 2; got.Requests < min {
				t.Errorf("only %d requests, want at least %d (3 iterations of 2 after every step)", got.Requests, min)
			}
			for _, s := range f.secrets {
				for name, text := range map[string]string{
					"consumer output": got.Output, "step logs": f.stepLogs.String(),
					"errors": strings.Join(append(f.errTexts, got.Failures...), "\n"),
				} {
					if strings.Contains(text, s) {
						t.Errorf("a secret access key appears in the %s", name)
					}
				}
			}
			if !strings.Contains(got.Output, `"accessKeyId":"`+previous.NewAccessKeyID+`"`) &&
				!strings.Contains(got.Output, `"accessKeyId": "`+previous.NewAccessKeyID+`"`) {
				t.Errorf("consumer logs do not name the last key read: %s", got.Output)
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
