package presigner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
	"github.com/keyrotor/keyrotor/ssmcreds"
)

// signedS3 sends an S3 request signed with the admin key (the SDK's S3 client is not a
// dependency of keyrotor).
func signedS3(t *testing.T, srv *motoserver.Server, method, path string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, srv.Endpoint+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(context.Background(), srv.Admin, req, hash, "s3", motoserver.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestPresignedURLFetchesTheObjectAndFollowsARotation(t *testing.T) {
	ctx := context.Background()
	// moto answers presigned S3 URLs with a 500 when its auth is on, so auth stays off here and
	// the signature is checked by an independent SigV4 computation (verifyPresigned).
	srv, err := motoserver.Start(ctx, motoserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	admin := srv.AdminConfig()
	iamc := iam.NewFromConfig(admin)

	// The signer user may read objects; its key sits in the parameter as keyrotor stores it.
	if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("s3-signer")}); err != nil {
		t.Fatal(err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::reports/*"}]}`
	if _, err := iamc.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("s3-signer"), PolicyName: aws.String("read"), PolicyDocument: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	key, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("s3-signer")})
	if err != nil {
		t.Fatal(err)
	}
	secret := aws.ToString(key.AccessKey.SecretAccessKey)
	value, _ := json.Marshal(map[string]string{"AccessKeyId": aws.ToString(key.AccessKey.AccessKeyId), "SecretAccessKey": secret})
	ssmc := ssm.NewFromConfig(admin)
	if _, err := ssmc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/keyrotor/s3-signer"), Type: ssmtypes.ParameterTypeSecureString, Value: aws.String(string(value))}); err != nil {
		t.Fatal(err)
	}
	for _, put := range []struct{ path, body string }{{"/reports", ""}, {"/reports/2026/q3 report.txt", "quarterly"}} {
		resp := signedS3(t, srv, http.MethodPut, put.path, []byte(put.body))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT %s: %s", put.path, resp.Status)
		}
	}

	// The provider's clock runs a TTL behind, so every key it returns has already expired and
	// each Presign reads the parameter again, as the first one after the TTL does.
	creds := ssmcreds.New(ssmc, "/keyrotor/s3-signer", func(o *ssmcreds.Options) {
		o.Now = func() time.Time { return time.Now().Add(-ssmcreds.DefaultTTL - time.Minute) }
	})
	p := New(motoserver.Config(srv.Endpoint, aws.Credentials{}), creds, srv.Endpoint)
	before := time.Now().UTC().Truncate(time.Second)
	got, err := p.Presign(ctx, Request{Bucket: "reports", Key: "2026/q3 report.txt", ExpiresSeconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	if after := time.Now().UTC(); got.ExpiresAt.Before(before.Add(time.Minute)) || got.ExpiresAt.After(after.Add(time.Minute)) {
		t.Errorf("expiresAt %s, want 60 s after signing (between %s and %s)", got.ExpiresAt, before, after)
	}
	if got.AccessKeyID != aws.ToString(key.AccessKey.AccessKeyId) {
		t.Errorf("signed with %s, want the stored key %s", got.AccessKeyID, aws.ToString(key.AccessKey.AccessKeyId))
	}
	out, _ := json.Marshal(got)
	if strings.Contains(string(out), secret) {
		t.Fatal("the response carries the secret access key")
	}

	if err := testutil.VerifyPresignedURL(got.URL, secret); err != nil {
		t.Fatalf("presigned URL is not signed with the stored secret: %v", err)
	}
	if err := testutil.VerifyPresignedURL(got.URL, "not-the-secret"); err == nil {
		t.Fatal("verifyPresigned accepted a wrong secret")
	}
	resp, err := http.Get(got.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "quarterly" {
		t.Fatalf("GET presigned URL: %s %q, want 200 \"quarterly\"", resp.Status, body)
	}

	// A rotation stores a new key; the next URL is signed with it, without a restart.
	rotated, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("s3-signer")})
	if err != nil {
		t.Fatal(err)
	}
	newID, newSecret := aws.ToString(rotated.AccessKey.AccessKeyId), aws.ToString(rotated.AccessKey.SecretAccessKey)
	value, _ = json.Marshal(map[string]string{"AccessKeyId": newID, "SecretAccessKey": newSecret})
	if _, err := ssmc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/keyrotor/s3-signer"), Type: ssmtypes.ParameterTypeSecureString, Value: aws.String(string(value)), Overwrite: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	next, err := p.Presign(ctx, Request{Bucket: "reports", Key: "2026/q3 report.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if next.AccessKeyID != newID {
		t.Errorf("after the rotation signed with %s, want the new key %s", next.AccessKeyID, newID)
	}
	if err := testutil.VerifyPresignedURL(next.URL, newSecret); err != nil {
		t.Fatalf("URL after the rotation is not signed with the new secret: %v", err)
	}
}

type parameterValue string

func (v parameterValue) GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Value: aws.String(string(v)), Version: 1}}, nil
}

func (v parameterValue) GetParameterHistory(context.Context, *ssm.GetParameterHistoryInput, ...func(*ssm.Options)) (*ssm.GetParameterHistoryOutput, error) {
	return &ssm.GetParameterHistoryOutput{Parameters: []ssmtypes.ParameterHistory{{Version: 1, Description: aws.String("keyrotor:AKIAEXAMPLE")}}}, nil
}

func TestPresignRejectsBadInputWithoutLeakingTheValue(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	good := parameterValue(`{"AccessKeyId":"AKIAEXAMPLE","SecretAccessKey":"` + secret + `"}`)
	tests := []struct {
		name    string
		value   parameterValue
		max     int // Presigner.MaxExpiresSeconds
		req     Request
		wantErr string
	}{
		{"missing bucket", good, 0, Request{Key: "k"}, "bucket and key are required"},
		{"expiry beyond a week", good, 0, Request{Bucket: "b", Key: "k", ExpiresSeconds: MaxExpiresSeconds + 1}, "between 1 and 604800"},
		{"expiry beyond the configured cap", good, 900, Request{Bucket: "b", Key: "k", ExpiresSeconds: 901}, "between 1 and 900"},
		{"raw secret in parameter", parameterValue(secret), 0, Request{Bucket: "b", Key: "k"}, "parameter /keyrotor/s3-signer (version 1) is not JSON"},
		{"json without secret", parameterValue(`{"AccessKeyId":"AKIAEXAMPLE"}`), 0, Request{Bucket: "b", Key: "k"}, "lacks AccessKeyId or SecretAccessKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(aws.Config{Region: "eu-west-1"}, ssmcreds.New(tt.value, "/keyrotor/s3-signer"), "")
			p.MaxExpiresSeconds = tt.max
			_, err := p.Presign(context.Background(), tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error carries the secret: %v", err)
			}
		})
	}
}
