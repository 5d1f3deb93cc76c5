package ssmcreds_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/keyrotor/keyrotor/ssmcreds"
)

const (
	testParam  = "/keyrotor/s3-signer"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testKeyID  = "AKIAEXAMPLEKEY000001"
)

// version is one parameter version as SSM keeps it.
type version struct {
	value, description string
}

// fakeSSM serves a parameter's versions: each GetParameter returns the next one (the last
// one again once all were read), as if the parameter was rotated between reads.
type fakeSSM struct {
	versions []version
	getErr   error
	histErr  error
	// historyPageSize splits the history into pages, to prove the provider pages through it.
	historyPageSize int
	gets            int // successful GetParameter calls
	calls           int // all GetParameter calls
}

func (f *fakeSSM) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	f.calls++
	if f.getErr != nil {
		return nil, f.getErr
	}
	if !aws.ToBool(in.WithDecryption) {
		return nil, errors.New("test: GetParameter without decryption")
	}
	i := min(f.gets, len(f.versions)-1)
	f.gets++
	return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{
		Name: in.Name, Value: aws.String(f.versions[i].value), Version: int64(i + 1), Type: ssmtypes.ParameterTypeSecureString,
	}}, nil
}

func (f *fakeSSM) GetParameterHistory(_ context.Context, in *ssm.GetParameterHistoryInput, _ ...func(*ssm.Options)) (*ssm.GetParameterHistoryOutput, error) {
	if f.histErr != nil {
		return nil, f.histErr
	}
	size := f.historyPageSize
	if size == 0 {
		size = len(f.versions)
	}
	start := 0
	if in.NextToken != nil {
		start = int(aws.ToString(in.NextToken)[0] - '0')
	}
	out := &ssm.GetParameterHistoryOutput{}
	for i := start; i < len(f.versions) && i < start+size; i++ {
		out.Parameters = append(out.Parameters, ssmtypes.ParameterHistory{
			Name: in.Name, Version: int64(i + 1), Description: aws.String(f.versions[i].description),
		})
	}
	if start+size < len(f.versions) {
		out.NextToken = aws.String(string(rune('0' + start + size)))
	}
	return out, nil
}

func jsonKey(id, secret string) string {
	return `{"AccessKeyId":"` + id + `","SecretAccessKey":"` + secret + `"}`
}

func TestRetrieveReadsBothFormats(t *testing.T) {
	now := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		format   ssmcreds.Format
		ttl      time.Duration
		ssm      *fakeSSM
		wantID   string
		wantTTL  time.Duration
		wantGets int
	}{
		{
			name: "json format by default", ssm: &fakeSSM{versions: []version{{jsonKey(testKeyID, testSecret), "keyrotor:" + testKeyID}}},
			wantID: testKeyID, wantTTL: ssmcreds.DefaultTTL,
		},
		{
			name: "json format with its own TTL", format: ssmcreds.FormatJSON, ttl: time.Minute,
			ssm:    &fakeSSM{versions: []version{{jsonKey(testKeyID, testSecret), ""}}},
			wantID: testKeyID, wantTTL: time.Minute,
		},
		{
			name: "raw format takes the key id from the version's Description", format: ssmcreds.FormatRaw,
			ssm:    &fakeSSM{versions: []version{{testSecret, "keyrotor:" + testKeyID}}},
			wantID: testKeyID, wantTTL: ssmcreds.DefaultTTL,
		},
		{
			name: "raw format pages the history to the version read", format: ssmcreds.FormatRaw,
			ssm: &fakeSSM{historyPageSize: 2, versions: []version{
				{"old-secret-1", "keyrotor:AKIAOLD1"}, {"old-secret-2", "keyrotor:AKIAOLD2"},
				{"old-secret-3", "keyrotor:AKIAOLD3"}, {"old-secret-4", "keyrotor:AKIAOLD4"},
				{testSecret, "keyrotor:" + testKeyID},
			}, gets: 4},
			wantID: testKeyID, wantTTL: ssmcreds.DefaultTTL,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &bytes.Buffer{}
			p := ssmcreds.NewProvider(tt.ssm, testParam, func(o *ssmcreds.Options) {
				o.Format, o.TTL, o.Now = tt.format, tt.ttl, func() time.Time { return now }
				o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
			})
			got, err := p.Retrieve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got.AccessKeyID != tt.wantID || got.SecretAccessKey != testSecret {
				t.Errorf("got key %s (secret matches: %v), want %s", got.AccessKeyID, got.SecretAccessKey == testSecret, tt.wantID)
			}
			if !got.CanExpire || !got.Expires.Equal(now.Add(tt.wantTTL)) {
				t.Errorf("CanExpire %v Expires %s, want true and %s", got.CanExpire, got.Expires, now.Add(tt.wantTTL))
			}
			if got.Source != "ssmcreds:"+testParam {
				t.Errorf("Source %q", got.Source)
			}
			if !strings.Contains(logs.String(), `"accessKeyId":"`+tt.wantID+`"`) || !strings.Contains(logs.String(), testParam) {
				t.Errorf("log does not name the parameter and key: %s", logs.String())
			}
			if strings.Contains(logs.String(), testSecret) {
				t.Error("the secret appears in the log")
			}
		})
	}
}

func TestRetrieveErrorsSayWhichParameterAndWhatToDo(t *testing.T) {
	notFound := &ssmtypes.ParameterNotFound{Message: aws.String("Parameter /keyrotor/s3-signer not found.")}
	denied := &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User is not authorized to perform: ssm:GetParameter"}
	tests := []struct {
		name      string
		param     string
		format    ssmcreds.Format
		ssm       *fakeSSM
		wantIs    error
		wantParts []string
	}{
		{"no parameter name", "", "", &fakeSSM{versions: []version{{jsonKey(testKeyID, testSecret), ""}}}, nil,
			[]string{"no parameter name", "parameter_name"}},
		{"unknown format", testParam, "yaml", &fakeSSM{versions: []version{{jsonKey(testKeyID, testSecret), ""}}}, nil,
			[]string{testParam, `"yaml"`, `"json" or "raw"`}},
		{"parameter missing", testParam, "", &fakeSSM{getErr: notFound}, ssmcreds.ErrParameterNotFound,
			[]string{testParam, "does not exist", "run a keyrotor rotation"}},
		{"access denied", testParam, "", &fakeSSM{getErr: denied}, nil,
			[]string{testParam, "ssm:GetParameter", "kms:Decrypt"}},
		{"json format holding a raw secret", testParam, ssmcreds.FormatJSON, &fakeSSM{versions: []version{{testSecret, "keyrotor:" + testKeyID}}}, ssmcreds.ErrMalformed,
			[]string{testParam, "version 1", "raw secret", `Format "raw"`}},
		{"json format holding broken JSON", testParam, "", &fakeSSM{versions: []version{{`{"AccessKeyId":"` + testKeyID + `","SecretAccessKey":"` + testSecret, ""}}}, ssmcreds.ErrMalformed,
			[]string{testParam, "not valid JSON", "rotate the key again"}},
		{"json format without the secret", testParam, "", &fakeSSM{versions: []version{{`{"AccessKeyId":"` + testKeyID + `"}`, ""}}}, ssmcreds.ErrMalformed,
			[]string{testParam, "lacks AccessKeyId or SecretAccessKey"}},
		{"json format without the key id", testParam, "", &fakeSSM{versions: []version{{`{"SecretAccessKey":"` + testSecret + `"}`, ""}}}, ssmcreds.ErrMalformed,
			[]string{testParam, "lacks AccessKeyId or SecretAccessKey"}},
		{"raw format holding JSON", testParam, ssmcreds.FormatRaw, &fakeSSM{versions: []version{{jsonKey(testKeyID, testSecret), "keyrotor:" + testKeyID}}}, ssmcreds.ErrMalformed,
			[]string{testParam, "holds JSON", `Format "json"`}},
		{"raw format without keyrotor's Description", testParam, ssmcreds.FormatRaw, &fakeSSM{versions: []version{{testSecret, "signing key"}}}, ssmcreds.ErrMalformed,
			[]string{testParam, "version 1", `"keyrotor:<AccessKeyId>"`, "not written by keyrotor"}},
		{"raw format with an empty key id", testParam, ssmcreds.FormatRaw, &fakeSSM{versions: []version{{testSecret, "keyrotor:"}}}, ssmcreds.ErrMalformed,
			[]string{testParam, `"keyrotor:<AccessKeyId>"`}},
		{"raw format with a multi-line value", testParam, ssmcreds.FormatRaw, &fakeSSM{versions: []version{{testSecret + "\n" + testSecret, "keyrotor:" + testKeyID}}}, ssmcreds.ErrMalformed,
			[]string{testParam, "not a secret access key"}},
		{"raw format history denied", testParam, ssmcreds.FormatRaw, &fakeSSM{versions: []version{{testSecret, "keyrotor:" + testKeyID}}, histErr: denied}, nil,
			[]string{testParam, "history", "ssm:GetParameterHistory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &bytes.Buffer{}
			p := ssmcreds.NewProvider(tt.ssm, tt.param, func(o *ssmcreds.Options) {
				o.Format, o.Logger = tt.format, slog.New(slog.NewJSONHandler(logs, nil))
			})
			got, err := p.Retrieve(context.Background())
			if err == nil {
				t.Fatalf("got key %s, want an error", got.AccessKeyID)
			}
			for _, part := range tt.wantParts {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not say %q", err, part)
				}
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v is not %v", err, tt.wantIs)
			}
			if tt.ssm.getErr != nil && !errors.Is(err, tt.ssm.getErr) {
				t.Errorf("error %v does not wrap the SDK error", err)
			}
			if got != (aws.Credentials{}) {
				t.Errorf("credentials returned with the error")
			}
			if strings.Contains(err.Error(), testSecret) || strings.Contains(logs.String(), testSecret) {
				t.Errorf("the secret appears in the error or log: %v", err)
			}
		})
	}
}

func TestCacheReadsTheParameterAgainOnlyAfterTheTTL(t *testing.T) {
	const ttl = time.Hour
	tests := []struct {
		name string
		// clockOffset moves the provider's clock; the SDK's cache checks Expires against the
		// real time, so a clock more than the TTL behind yields credentials already expired.
		clockOffset time.Duration
		wantReads   int
		wantSecond  string
	}{
		{"within the TTL the cached key is served", 0, 1, "AKIAFIRST"},
		{"after the TTL the parameter is read again", -ttl - time.Minute, 2, "AKIASECOND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeSSM{versions: []version{{jsonKey("AKIAFIRST", testSecret), ""}, {jsonKey("AKIASECOND", testSecret), ""}}}
			creds := ssmcreds.New(fake, testParam, func(o *ssmcreds.Options) {
				o.TTL, o.Now = ttl, func() time.Time { return time.Now().Add(tt.clockOffset) }
			})
			first, err := creds.Retrieve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			second, err := creds.Retrieve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if first.AccessKeyID != "AKIAFIRST" || second.AccessKeyID != tt.wantSecond || fake.gets != tt.wantReads {
				t.Errorf("keys %s then %s with %d reads, want AKIAFIRST then %s with %d", first.AccessKeyID, second.AccessKeyID, fake.gets, tt.wantSecond, tt.wantReads)
			}
		})
	}
}

func TestInvalidateMakesTheCacheReadTheRotatedKey(t *testing.T) {
	fake := &fakeSSM{versions: []version{{jsonKey("AKIAFIRST", testSecret), ""}, {jsonKey("AKIASECOND", testSecret), ""}}}
	creds := ssmcreds.New(fake, testParam)
	ctx := context.Background()
	for i, want := range []string{"AKIAFIRST", "AKIAFIRST"} {
		if got, err := creds.Retrieve(ctx); err != nil || got.AccessKeyID != want {
			t.Fatalf("read %d: %s, %v; want %s", i, got.AccessKeyID, err, want)
		}
	}
	creds.Invalidate()
	if got, err := creds.Retrieve(ctx); err != nil || got.AccessKeyID != "AKIASECOND" {
		t.Fatalf("after Invalidate: %s, %v; want AKIASECOND", got.AccessKeyID, err)
	}
	if fake.gets != 2 {
		t.Errorf("%d reads, want 2", fake.gets)
	}
}

func TestAFailedReReadKeepsTheCurrentKeyButNotAnInvalidatedOne(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	tests := []struct {
		name       string
		invalidate bool
		wantKey    string
		wantErr    bool
	}{
		{name: "expired key kept for another interval", wantKey: "AKIAFIRST"},
		{name: "invalidated key not kept", invalidate: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &bytes.Buffer{}
			fake := &fakeSSM{versions: []version{{jsonKey("AKIAFIRST", testSecret), ""}}}
			// The clock runs more than a TTL behind, so every key read has already expired.
			behind := -ssmcreds.DefaultTTL - ssmcreds.RefreshRetryInterval - time.Minute
			creds := ssmcreds.New(fake, testParam, func(o *ssmcreds.Options) {
				o.Now = func() time.Time { return time.Now().Add(behind) }
				o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
			})
			ctx := context.Background()
			if _, err := creds.Retrieve(ctx); err != nil {
				t.Fatal(err)
			}
			fake.getErr = throttled
			if tt.invalidate {
				creds.Invalidate()
			}
			got, err := creds.Retrieve(ctx)
			if tt.wantErr {
				if err == nil || !errors.Is(err, throttled) || !strings.Contains(err.Error(), testParam) {
					t.Fatalf("got key %q, err %v; want the read error naming %s", got.AccessKeyID, err, testParam)
				}
				return
			}
			if err != nil || got.AccessKeyID != tt.wantKey {
				t.Fatalf("got key %q, err %v; want %s kept", got.AccessKeyID, err, tt.wantKey)
			}
			if !strings.Contains(logs.String(), "keeping the current key") || !strings.Contains(logs.String(), "ThrottlingException") {
				t.Errorf("no warning naming the failure: %s", logs.String())
			}
			if strings.Contains(logs.String(), testSecret) {
				t.Error("the secret appears in the log")
			}
			if fake.calls != 2 {
				t.Errorf("%d reads, want 2", fake.calls)
			}
		})
	}
}
