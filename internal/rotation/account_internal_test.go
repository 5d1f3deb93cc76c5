package rotation

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
)

// fakeAssumer answers AssumeRole with err, or with credentials, counting calls.
type fakeAssumer struct {
	err   error
	calls atomic.Int64
	last  *sts.AssumeRoleInput
}

func (f *fakeAssumer) AssumeRole(_ context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	f.calls.Add(1)
	f.last = in
	if f.err != nil {
		return nil, f.err
	}
	return &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{
		AccessKeyId: aws.String("ASIAMEMBER"), SecretAccessKey: aws.String("member-secret"), SessionToken: aws.String("token"),
		Expiration: aws.Time(time.Now().Add(time.Hour)),
	}}, nil
}

func memberSteps(assumer *fakeAssumer) *Steps {
	hub := &Steps{Config: Config{KMSKeyID: "hub-key", ParameterPrefix: DefaultParameterPrefix}}
	hub.Members = &Members{Allowed: []string{"111111111111", "222222222222"}, ExternalID: "ext-1", STS: assumer,
		New: func(aws.Config) *Steps { return &Steps{} }}
	return hub
}

const execARN = "arn:aws:states:us-east-1:123456789012:execution:keyrotor-rotate:run/1 with spaces"

func TestRequestNamingAnAccountIsServedOnlyForMemberAccounts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		account   string
		members   bool
		assumeErr error
		wantError string // "" : served by the member's Steps
		wantCalls int64
	}{
		{"own account when no accountId", "", true, nil, "", 0},
		{"listed member account", "111111111111", true, nil, "", 1},
		{"unlisted account fails closed before any call", "333333333333", true, nil, AccountNotAllowed, 0},
		{"engine without member accounts refuses any", "111111111111", false, nil, AccountNotAllowed, 0},
		{"malformed account id", "12345", true, nil, InvalidInput, 0},
		{"AssumeRole refused is named and says which role", "111111111111", true,
			&smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform sts:AssumeRole"}, AssumeRoleDenied, 1},
		{"AssumeRole throttled is retried as Throttled", "111111111111", true,
			&smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}, Throttled, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assumer := &fakeAssumer{err: tc.assumeErr}
			hub := memberSteps(assumer)
			if !tc.members {
				hub.Members = nil
			}
			got, err := hub.forRequest(context.Background(), Request{ExecutionID: execARN, Rotation: Rotation{Input: Input{UserName: "u", AccountID: tc.account}}})
			if assumer.calls.Load() != tc.wantCalls {
				t.Errorf("AssumeRole called %d times, want %d", assumer.calls.Load(), tc.wantCalls)
			}
			if tc.wantError != "" {
				if ErrorName(err) != tc.wantError {
					t.Fatalf("error %v (%s), want %s", err, ErrorName(err), tc.wantError)
				}
				if tc.wantError == AssumeRoleDenied && !strings.Contains(err.Error(), "arn:aws:iam::111111111111:role/keyrotor/keyrotor-target") {
					t.Errorf("AssumeRoleDenied does not name the role: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.account == "" {
				if got != hub {
					t.Errorf("own-account request not served by the hub's Steps")
				}
				return
			}
			if got == hub || got.Config.KMSKeyID != MemberKMSKeyAlias || got.account != tc.account {
				t.Errorf("member Steps: KMS %q account %q, want %s in %s", got.Config.KMSKeyID, got.account, MemberKMSKeyAlias, tc.account)
			}
			in := assumer.last
			if aws.ToString(in.RoleArn) != "arn:aws:iam::"+tc.account+":role/keyrotor/keyrotor-target" ||
				aws.ToString(in.ExternalId) != "ext-1" || aws.ToString(in.RoleSessionName) != "run-1-with-spaces" {
				t.Errorf("AssumeRole(%s, external id %q, session %q)", aws.ToString(in.RoleArn), aws.ToString(in.ExternalId), aws.ToString(in.RoleSessionName))
			}
		})
	}
}

func TestRoleSessionIsCachedPerAccountAndExecution(t *testing.T) {
	assumer := &fakeAssumer{}
	hub := memberSteps(assumer)
	ctx := context.Background()
	for _, r := range []struct{ account, execution string }{
		{"111111111111", "arn:aws:states:us-east-1:123456789012:execution:sm:a"},
		{"111111111111", "arn:aws:states:us-east-1:123456789012:execution:sm:a"},
		{"222222222222", "arn:aws:states:us-east-1:123456789012:execution:sm:a"},
		{"111111111111", "arn:aws:states:us-east-1:123456789012:execution:sm:b"},
		{"222222222222", "arn:aws:states:us-east-1:123456789012:execution:sm:a"},
	} {
		if _, err := hub.forRequest(ctx, Request{ExecutionID: r.execution, Rotation: Rotation{Input: Input{UserName: "u", AccountID: r.account}}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := assumer.calls.Load(); n != 3 {
		t.Errorf("AssumeRole called %d times for 3 (account, execution) pairs", n)
	}
}

func TestSessionNameIsTheExecutionNameWithinAssumeRolesLimits(t *testing.T) {
	for _, tc := range []struct{ execution, want string }{
		{"arn:aws:states:us-east-1:1:execution:sm:nightly-2026", "nightly-2026"},
		{"arn:aws:states:us-east-1:1:execution:sm:a b/c", "a-b-c"},
		{"arn:aws:states:us-east-1:1:execution:sm:" + strings.Repeat("x", 80), strings.Repeat("x", 64)},
		{"arn:aws:states:us-east-1:1:execution:sm:x", "x-"},
		{"arn:aws:states:us-east-1:1:express:sm:run:ärger", "-rger"},
	} {
		if got := SessionName(tc.execution); got != tc.want || !sessionNameOK(got) {
			t.Errorf("SessionName(%q) = %q, want %q", tc.execution, got, tc.want)
		}
	}
}

func sessionNameOK(s string) bool {
	return len(s) >= 2 && len(s) <= 64 && !sessionNameUnsafe.MatchString(s)
}

func TestExpiredMemberSessionIsRetriedWithANewOne(t *testing.T) {
	assumer := &fakeAssumer{}
	hub := memberSteps(assumer)
	ctx := context.Background()
	req := Request{ExecutionID: execARN, Rotation: Rotation{Input: Input{UserName: "u", AccountID: "111111111111"}}}
	member, err := hub.forRequest(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	expired := member.expiredSession(Classify(&smithy.GenericAPIError{Code: "ExpiredToken", Message: "The security token included in the request is expired"}, "list keys"))
	if ErrorName(expired) != ServiceUnavailable {
		t.Fatalf("expired session: %v (%s), want ServiceUnavailable (retried)", expired, ErrorName(expired))
	}
	kept := member.expiredSession(NewError(KeyNotYetValid, errors.New("InvalidClientTokenId"), "new key"))
	if ErrorName(kept) != KeyNotYetValid {
		t.Errorf("a named error was renamed: %s", ErrorName(kept))
	}
	if _, err := hub.forRequest(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n := assumer.calls.Load(); n != 2 {
		t.Errorf("AssumeRole called %d times, want 2: the expired session is assumed anew", n)
	}
}

// A call refused with the member session is MemberAccessDenied (retried while a grant just
// made propagates), naming the action and the member's role; the hub's own Step Functions
// call refused stays AccessDenied (the function's role lacks it: no retry helps); other named
// errors keep their names.
func TestMemberCallDeniedIsMemberAccessDeniedAndTheHubsStaysAccessDenied(t *testing.T) {
	hub := memberSteps(&fakeAssumer{})
	member, err := hub.forRequest(context.Background(), Request{ExecutionID: execARN, Rotation: Rotation{Input: Input{UserName: "u", AccountID: "111111111111"}}})
	if err != nil {
		t.Fatal(err)
	}
	denied := func(service, operation string) error {
		return Classify(&smithy.OperationError{ServiceID: service, OperationName: operation,
			Err: &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized"}}, "step")
	}
	for _, tc := range []struct {
		name     string
		err      error
		want     string
		mentions []string
	}{
		{"IAM call of the member session", denied("IAM", "CreateAccessKey"), MemberAccessDenied,
			[]string{"iam:CreateAccessKey", "keyrotor-target role of account 111111111111", "retried"}},
		{"KMS call of the member session", denied("KMS", "Decrypt"), MemberAccessDenied, []string{"kms:Decrypt", "keyrotor-target role"}},
		{"SSM call of the member session", denied("SSM", "PutParameter"), MemberAccessDenied, []string{"ssm:PutParameter"}},
		{"the hub's Step Functions call", denied("SFN", "DescribeExecution"), AccessDenied, []string{"states:DescribeExecution", "this function's role"}},
		{"another named error", NewError(TooManyActiveKeys, nil, "two active keys"), TooManyActiveKeys, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := member.expiredSession(tc.err)
			if ErrorName(got) != tc.want {
				t.Fatalf("%v: named %s, want %s", got, ErrorName(got), tc.want)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(got.Error(), m) {
					t.Errorf("%q does not say %q", got.Error(), m)
				}
			}
		})
	}
	// The hub's own steps are not renamed.
	if got := hub.expiredSession(denied("IAM", "CreateAccessKey")); ErrorName(got) != AccessDenied {
		t.Errorf("a hub step's denial is %s, want AccessDenied", ErrorName(got))
	}
}

// Each hub function's member session carries its own name as the keyrotor:function session
// tag (the member role's trust and KMS grants key on it), not transitive; a caller that is no
// function (Function "") tags nothing.
func TestMemberSessionCarriesTheFunctionsTag(t *testing.T) {
	for _, tc := range []struct{ function string }{{StoreParamFunction}, {CreateKeyFunction}, {""}} {
		t.Run("function "+tc.function, func(t *testing.T) {
			assumer := &fakeAssumer{}
			hub := memberSteps(assumer)
			hub.Members.Function = tc.function
			if _, err := hub.forRequest(context.Background(), Request{ExecutionID: execARN, Rotation: Rotation{Input: Input{UserName: "u", AccountID: "111111111111"}}}); err != nil {
				t.Fatal(err)
			}
			in := assumer.last
			if tc.function == "" {
				if len(in.Tags) != 0 {
					t.Errorf("tags %v, want none", in.Tags)
				}
				return
			}
			if len(in.Tags) != 1 || aws.ToString(in.Tags[0].Key) != FunctionTagKey || aws.ToString(in.Tags[0].Value) != tc.function {
				t.Errorf("tags %+v, want %s=%s", in.Tags, FunctionTagKey, tc.function)
			}
			if len(in.TransitiveTagKeys) != 0 {
				t.Errorf("transitive tag keys %v, want none", in.TransitiveTagKeys)
			}
		})
	}
}
