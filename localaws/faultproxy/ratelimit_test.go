package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
)

// stubProxy is a proxy in front of a backend that answers 200 to everything, on a clock the
// test moves: the rate limiter alone decides.
func stubProxy(t *testing.T) (*Proxy, *time.Time) {
	t.Helper()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("<ok/>"))
	}))
	t.Cleanup(backend.Close)
	p, err := Start(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return clock }
	return p, &clock
}

// signed is a query-protocol request to service, as far as the proxy reads it.
func signed(service, action string) *http.Request {
	body := "Action=" + action
	if action == "AssumeRole" { // the members AWS's model requires: the proxy refuses it without them
		body += "&RoleArn=arn%3Aaws%3Aiam%3A%3A111111111111%3Arole%2Fkeyrotor-target&RoleSessionName=fleet"
	}
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIATEST/20260101/us-east-1/"+service+"/aws4_request, SignedHeaders=host, Signature=x")
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func serve(p *Proxy, r *http.Request) int {
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	return w.Code
}

// TestRateLimitHoldsTheRateOverAWindow offers calls at a steady rate for a window of
// simulated time and counts those that pass: a full bucket, then the refill rate, whatever
// the offered rate; calls to other services are not limited.
func TestRateLimitHoldsTheRateOverAWindow(t *testing.T) {
	tests := []struct {
		name           string
		limit          RateLimit
		offeredPerS    float64
		window         time.Duration
		wantPassed     int // burst + rate × window, or all offered calls when under the rate
		toleranceCalls int
	}{
		{"far over the rate, no burst", RateLimit{Service: "iam", PerSecond: 10, Burst: 1}, 200, 30 * time.Second, 1 + 300, 1},
		{"twice the rate, a second of burst", RateLimit{Service: "iam", PerSecond: 20, Burst: 20}, 40, 60 * time.Second, 20 + 1200, 1},
		{"just over the rate", RateLimit{Service: "iam", PerSecond: 5, Burst: 5}, 6, 100 * time.Second, 5 + 500, 1},
		{"under the rate: nothing throttled", RateLimit{Service: "iam", PerSecond: 5, Burst: 1}, 4, 100 * time.Second, 400, 0},
		{"fractional rate", RateLimit{Service: "iam", PerSecond: 0.5, Burst: 1}, 10, 60 * time.Second, 1 + 30, 1},
		{"another service's limit leaves IAM alone", RateLimit{Service: "ssm", PerSecond: 1, Burst: 1}, 50, 10 * time.Second, 500, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, clock := stubProxy(t)
			if err := p.SetRateLimit(tt.limit); err != nil {
				t.Fatal(err)
			}
			start := *clock
			step := time.Duration(float64(time.Second) / tt.offeredPerS)
			passed, throttled, sts := 0, 0, 0
			for i := 0; ; i++ {
				*clock = start.Add(time.Duration(i) * step)
				if clock.Sub(start) >= tt.window {
					break
				}
				switch serve(p, signed("iam", "ListUsers")) {
				case http.StatusOK:
					passed++
				case http.StatusBadRequest:
					throttled++
				default:
					t.Fatalf("call %d: unexpected status", i)
				}
				if serve(p, signed("sts", "GetCallerIdentity")) == http.StatusOK {
					sts++
				}
			}
			if d := passed - tt.wantPassed; d < -tt.toleranceCalls || d > tt.toleranceCalls {
				t.Errorf("passed %d IAM calls in %s (%d throttled), want %d ± %d", passed, tt.window, throttled, tt.wantPassed, tt.toleranceCalls)
			}
			if sts != passed+throttled {
				t.Errorf("STS: %d of %d calls passed, want all (no limit on sts)", sts, passed+throttled)
			}
			limited := 0
			for _, c := range p.Calls() {
				if c.RateLimited {
					limited++
					if c.Service != tt.limit.Service || c.Fault != Throttle || c.ErrorCode != "Throttling" || c.Status != 400 {
						t.Fatalf("rate-limited call recorded as %+v", c)
					}
				}
			}
			if limited != throttled {
				t.Errorf("%d calls recorded as rate-limited, %d were throttled", limited, throttled)
			}
		})
	}
}

// TestRateLimitAnswersAsAWSThrottles checks the answer to a call over the rate through the
// SDK, against moto: AWS's code and message, HTTP 400, classed as throttling by the SDK's
// retryer (which then backs off and retries), and nothing done in moto.
func TestRateLimitAnswersAsAWSThrottles(t *testing.T) {
	tests := []struct {
		name     string
		service  string
		call     func(context.Context, aws.Config, int) error
		wantCode string
	}{
		{"IAM (query protocol)", "iam", func(ctx context.Context, cfg aws.Config, i int) error {
			_, err := iam.NewFromConfig(cfg).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(fmt.Sprintf("throttled-%d", i))})
			return err
		}, "Throttling"},
		{"SSM (JSON protocol)", "ssm", func(ctx context.Context, cfg aws.Config, i int) error {
			_, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{
				Name: aws.String(fmt.Sprintf("/throttled/%d", i)), Value: aws.String("v"), Type: "String"})
			return err
		}, "ThrottlingException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			p, cfg := startProxy(t)
			// One call in the bucket and a refill far slower than the test.
			if err := p.SetRateLimit(RateLimit{Service: tt.service, PerSecond: 0.001, Burst: 1}); err != nil {
				t.Fatal(err)
			}
			if err := tt.call(ctx, cfg, 1); err != nil {
				t.Fatalf("first call (in the burst): %v", err)
			}
			err := tt.call(ctx, cfg, 2)
			var apiErr smithy.APIError
			if statusOf(err) != 400 || errorCodeOf(err) != tt.wantCode || !errors.As(err, &apiErr) || apiErr.ErrorMessage() != "Rate exceeded" {
				t.Fatalf("second call: err = %v, want HTTP 400 %s: Rate exceeded", err, tt.wantCode)
			}
			if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
				t.Errorf("the SDK does not class %v as throttling", err)
			}
			if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) != aws.TrueTernary {
				t.Errorf("the SDK's standard retryer would not retry %v", err)
			}
			calls := p.Calls()
			if last := calls[len(calls)-1]; !last.RateLimited || last.Fault != Throttle {
				t.Errorf("throttled call recorded as %+v", last)
			}
			// Removing the limit lets calls through again, and the throttled one did nothing.
			if err := p.SetRateLimit(RateLimit{Service: tt.service}); err != nil {
				t.Fatal(err)
			}
			if err := tt.call(ctx, cfg, 2); err != nil {
				t.Fatalf("after removing the limit: %v (the throttled call must not have reached moto)", err)
			}
		})
	}
}

// TestFaultedCallsTakeNoToken: a call a Rule answers never reaches moto and spends none of
// the service's rate.
func TestFaultedCallsTakeNoToken(t *testing.T) {
	p, _ := stubProxy(t)
	if err := p.SetRateLimit(RateLimit{Service: "iam", PerSecond: 1, Burst: 2}); err != nil {
		t.Fatal(err)
	}
	p.AddRule(Rule{Service: "iam", Action: "GetUser", Fault: ServerError})
	for range 5 {
		if code := serve(p, signed("iam", "GetUser")); code != http.StatusInternalServerError {
			t.Fatalf("GetUser: HTTP %d, want the rule's 500", code)
		}
	}
	for i, want := range []int{200, 200, 400} {
		if code := serve(p, signed("iam", "ListUsers")); code != want {
			t.Fatalf("ListUsers %d: HTTP %d, want %d", i+1, code, want)
		}
	}
	if got := p.RateLimits(); len(got) != 1 || got[0].PerSecond != 1 || got[0].Burst != 2 {
		t.Errorf("RateLimits() = %+v", got)
	}
	if err := p.SetRateLimit(RateLimit{Service: "iam", PerSecond: -1}); err == nil {
		t.Error("a negative rate was accepted")
	}
}

// signedBy is signed with the key id given.
func signedBy(key, service, action string) *http.Request {
	r := signed(service, action)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+key+"/20260101/us-east-1/"+service+"/aws4_request, SignedHeaders=host, Signature=x")
	return r
}

// A PerAccount limit gives each account its own bucket: the account of a key is learned from
// the AssumeRole answer that gave it (and a key made with CreateAccessKey is its creator's),
// so two member accounts and the default one each pass the rate, where one shared limit
// passes it once in all.
func TestPerAccountRateLimitPacesEachAccountByItsOwnRate(t *testing.T) {
	answers := map[string]string{
		"AssumeRole-A":    `<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAMEMBERA</AccessKeyId></Credentials><AssumedRoleUser><Arn>arn:aws:sts::111111111111:assumed-role/keyrotor-target/x</Arn></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>`,
		"AssumeRole-B":    `<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAMEMBERB</AccessKeyId></Credentials><AssumedRoleUser><Arn>arn:aws:sts::222222222222:assumed-role/keyrotor-target/x</Arn></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>`,
		"CreateAccessKey": `<CreateAccessKeyResponse><CreateAccessKeyResult><AccessKey><AccessKeyId>AKIANEWINB</AccessKeyId></AccessKey></CreateAccessKeyResult></CreateAccessKeyResponse>`,
	}
	tests := []struct {
		name       string
		perAccount bool
		wantPassed int // calls passed in the window, over all three accounts
	}{
		{"one bucket per account", true, 3 * (10 + 10*10)},
		{"one bucket for all", false, 10 + 10*10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := ""
			backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if a, ok := answers[next]; ok {
					_, _ = w.Write([]byte(a))
					return
				}
				_, _ = w.Write([]byte("<ok/>"))
			}))
			defer backend.Close()
			p, err := Start(backend.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			p.now = func() time.Time { return clock }
			for _, step := range []struct{ key, service, action, answer string }{
				{"AKIAHUB", "sts", "AssumeRole", "AssumeRole-A"},
				{"AKIAHUB", "sts", "AssumeRole", "AssumeRole-B"},
				{"ASIAMEMBERB", "iam", "CreateAccessKey", "CreateAccessKey"},
			} {
				next = step.answer
				if code := serve(p, signedBy(step.key, step.service, step.action)); code != http.StatusOK {
					t.Fatalf("%s: %d", step.action, code)
				}
			}
			next = ""
			if err := p.SetRateLimit(RateLimit{Service: "iam", PerSecond: 10, Burst: 10, PerAccount: tt.perAccount}); err != nil {
				t.Fatal(err)
			}
			passed := 0
			for i := 0; i < 10*100; i++ { // 100 calls/s for 10 s, each signer in turn
				clock = clock.Add(10 * time.Millisecond)
				for _, key := range []string{"AKIAHUB", "ASIAMEMBERA", "AKIANEWINB"} {
					if serve(p, signedBy(key, "iam", "ListAccessKeys")) == http.StatusOK {
						passed++
					}
				}
			}
			if passed < tt.wantPassed-3 || passed > tt.wantPassed+3 {
				t.Errorf("passed %d calls, want about %d", passed, tt.wantPassed)
			}
			accounts := map[string]bool{}
			for _, c := range p.Calls() {
				accounts[c.Account] = true
			}
			if len(accounts) != 3 || !accounts["111111111111"] || !accounts["222222222222"] || !accounts[""] {
				t.Errorf("recorded accounts %v, want the default and both members", accounts)
			}
		})
	}
}
