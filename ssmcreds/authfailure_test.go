package ssmcreds_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/keyrotor/keyrotor/ssmcreds"
)

func TestIsAuthFailure(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&smithy.GenericAPIError{Code: "InvalidAccessKeyId"}, true},
		{&smithy.GenericAPIError{Code: "InvalidClientTokenId"}, true},
		{&smithy.GenericAPIError{Code: "SignatureDoesNotMatch"}, true},
		{&smithy.GenericAPIError{Code: "ExpiredToken"}, true},
		{&smithy.GenericAPIError{Code: "UnrecognizedClientException"}, true},
		{&smithy.GenericAPIError{Code: "InvalidSignatureException"}, true},
		{fmt.Errorf("operation error S3: GetObject: %w", &smithy.GenericAPIError{Code: "InvalidAccessKeyId"}), true},
		{&smithy.GenericAPIError{Code: "AccessDenied"}, false},
		{&smithy.GenericAPIError{Code: "NoSuchKey"}, false},
		{errors.New("InvalidAccessKeyId"), false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := ssmcreds.IsAuthFailure(tt.err); got != tt.want {
			t.Errorf("IsAuthFailure(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// s3Script answers S3 requests with the given statuses/codes in turn (then 200) and records
// the access key id each attempt was signed with and whether a PUT carried its body.
type s3Script struct {
	mu        sync.Mutex
	responses []string // "" or an error code; "InternalError" answers 500, others 403
	keys      []string
	bodies    []bool
}

var credentialKey = regexp.MustCompile(`Credential=([A-Z0-9]+)/`)

func (s *s3Script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	m := credentialKey.FindStringSubmatch(r.Header.Get("Authorization"))
	key := ""
	if m != nil {
		key = m[1]
	}
	s.keys = append(s.keys, key)
	if r.Method == http.MethodPut {
		s.bodies = append(s.bodies, strings.Contains(string(body), "payload"))
	}
	code := ""
	if len(s.responses) > 0 {
		code, s.responses = s.responses[0], s.responses[1:]
	}
	s.mu.Unlock()
	if code == "" {
		w.Header().Set("ETag", `"etag"`)
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, "object")
		}
		return
	}
	status := http.StatusForbidden
	if code == "InternalError" {
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>refused by the test</Message><RequestId>r1</RequestId></Error>`, code)
}

func TestAuthFailureInvalidatesAndRetriesOnce(t *testing.T) {
	noDelay := retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	standard := func() aws.Retryer { return retry.NewStandard(func(o *retry.StandardOptions) { o.Backoff = noDelay }) }
	tests := []struct {
		name      string
		put       bool
		retryer   func() aws.Retryer
		responses []string
		wantErr   string // error code the operation ends in; "" for success
		wantKeys  []string
		// after one operation: invalidations, parameter reads
		wantInvalidations, wantReads int
	}{
		{name: "deleted key: retried once, signed with the re-read key", retryer: standard,
			responses: []string{"InvalidAccessKeyId"}, wantKeys: []string{"AKIAFIRST", "AKIASECOND"}, wantInvalidations: 1, wantReads: 2},
		{name: "secret does not match: retried once, signed with the re-read key", retryer: standard,
			responses: []string{"SignatureDoesNotMatch"}, wantKeys: []string{"AKIAFIRST", "AKIASECOND"}, wantInvalidations: 1, wantReads: 2},
		{name: "PutObject resends its body on the retry", put: true, retryer: standard,
			responses: []string{"InvalidAccessKeyId"}, wantKeys: []string{"AKIAFIRST", "AKIASECOND"}, wantInvalidations: 1, wantReads: 2},
		{name: "refused again after the re-read: fails after one retry", retryer: standard,
			responses: []string{"InvalidAccessKeyId", "InvalidAccessKeyId"}, wantErr: "InvalidAccessKeyId",
			wantKeys: []string{"AKIAFIRST", "AKIASECOND"}, wantInvalidations: 2, wantReads: 2},
		{name: "access denied is not an authentication failure: no retry, no invalidation", retryer: standard,
			responses: []string{"AccessDenied"}, wantErr: "AccessDenied", wantKeys: []string{"AKIAFIRST"}, wantReads: 1},
		{name: "server error retried by the SDK with the cached key", retryer: standard,
			responses: []string{"InternalError"}, wantKeys: []string{"AKIAFIRST", "AKIAFIRST"}, wantReads: 1},
		{name: "without SDK retries the cache is still invalidated", retryer: func() aws.Retryer { return aws.NopRetryer{} },
			responses: []string{"InvalidAccessKeyId"}, wantErr: "InvalidAccessKeyId", wantKeys: []string{"AKIAFIRST"}, wantInvalidations: 1, wantReads: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script := &s3Script{responses: tt.responses}
			srv := httptest.NewServer(script)
			defer srv.Close()
			fake := &fakeSSM{versions: []version{{jsonKey("AKIAFIRST", testSecret), ""}, {jsonKey("AKIASECOND", testSecret), ""}}}
			creds := ssmcreds.New(fake, testParam)
			invalidations := &countingInvalidator{CredentialsCache: creds}
			client := s3.New(s3.Options{
				Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
				Credentials: creds, Retryer: tt.retryer(),
				APIOptions: []func(*middleware.Stack) error{ssmcreds.InvalidateOnAuthFailure(invalidations)},
			})
			ctx := context.Background()
			var err error
			if tt.put {
				_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("reports"), Key: aws.String("k"), Body: strings.NewReader("payload")})
			} else {
				_, err = client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("reports"), Key: aws.String("k")})
			}
			var api smithy.APIError
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("operation failed: %v", err)
			case tt.wantErr != "" && (!errors.As(err, &api) || api.ErrorCode() != tt.wantErr):
				t.Fatalf("operation ended in %v, want error code %s", err, tt.wantErr)
			}
			if fmt.Sprint(script.keys) != fmt.Sprint(tt.wantKeys) {
				t.Errorf("attempts signed with %v, want %v", script.keys, tt.wantKeys)
			}
			if got := invalidations.n.Load(); got != int64(tt.wantInvalidations) || fake.gets != tt.wantReads {
				t.Errorf("%d invalidations and %d parameter reads, want %d and %d", got, fake.gets, tt.wantInvalidations, tt.wantReads)
			}
			for i, carried := range script.bodies {
				if !carried {
					t.Errorf("PUT attempt %d arrived without its body", i+1)
				}
			}
			if err != nil && strings.Contains(err.Error(), testSecret) {
				t.Error("the secret appears in the error")
			}
			// Whatever happened, the next operation is signed with the parameter's current key.
			script.mu.Lock()
			script.keys = nil
			script.mu.Unlock()
			if _, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("reports"), Key: aws.String("k")}); err != nil {
				t.Fatalf("next operation: %v", err)
			}
			wantNext := "AKIAFIRST"
			if tt.wantInvalidations > 0 {
				wantNext = "AKIASECOND"
			}
			if len(script.keys) != 1 || script.keys[0] != wantNext {
				t.Errorf("next operation signed with %v, want [%s]", script.keys, wantNext)
			}
		})
	}
}

// keyedS3 refuses every request signed with a deleted key and holds requests for the object
// "held" until released, so a test can order what concurrent requests see.
type keyedS3 struct {
	deleted  string
	arrived  chan struct{}
	release  chan struct{}
	mu       sync.Mutex
	attempts []string // "object:key" per attempt
}

func (s *keyedS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := ""
	if m := credentialKey.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		key = m[1]
	}
	object := strings.TrimPrefix(r.URL.Path, "/reports/")
	s.mu.Lock()
	s.attempts = append(s.attempts, object+":"+key)
	s.mu.Unlock()
	if object == "held" && key == s.deleted {
		s.arrived <- struct{}{}
		<-s.release
	}
	if key == s.deleted {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>`)
		return
	}
	_, _ = io.WriteString(w, "object")
}

func TestALateRefusalOfAReplacedKeyKeepsTheNewKey(t *testing.T) {
	srv := &keyedS3{deleted: "AKIAFIRST", arrived: make(chan struct{}), release: make(chan struct{})}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	fake := &fakeSSM{versions: []version{{jsonKey("AKIAFIRST", testSecret), ""}, {jsonKey("AKIASECOND", testSecret), ""}}}
	creds := ssmcreds.New(fake, testParam)
	invalidations := &countingInvalidator{CredentialsCache: creds}
	noDelay := retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(hs.URL), UsePathStyle: true, Credentials: creds,
		Retryer:    retry.NewStandard(func(o *retry.StandardOptions) { o.Backoff = noDelay }),
		APIOptions: []func(*middleware.Stack) error{ssmcreds.InvalidateOnAuthFailure(invalidations)},
	})
	ctx := context.Background()

	// The held request is signed with the old key and waits at the server while another
	// request is refused, invalidates the cache, and succeeds with the re-read key.
	held := make(chan error, 1)
	go func() {
		_, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("reports"), Key: aws.String("held")})
		held <- err
	}()
	<-srv.arrived
	if _, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("reports"), Key: aws.String("prompt")}); err != nil {
		t.Fatalf("prompt request: %v", err)
	}
	close(srv.release)
	if err := <-held; err != nil {
		t.Fatalf("held request: %v", err)
	}

	want := "[held:AKIAFIRST prompt:AKIAFIRST prompt:AKIASECOND held:AKIASECOND]"
	if got := fmt.Sprint(srv.attempts); got != want {
		t.Errorf("attempts %s, want %s", got, want)
	}
	if invalidations.n.Load() != 1 || fake.gets != 2 {
		t.Errorf("%d invalidations and %d parameter reads, want 1 and 2: the late refusal of the old key must not drop the new one",
			invalidations.n.Load(), fake.gets)
	}
}

// countingInvalidator counts invalidations of the consumer's credentials cache.
type countingInvalidator struct {
	*aws.CredentialsCache
	n atomic.Int64
}

func (c *countingInvalidator) Invalidate() { c.n.Add(1); c.CredentialsCache.Invalidate() }
