package rotation_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// smtpValue is the ses-smtp parameter value as an SMTP consumer reads it.
type smtpValue struct {
	AccessKeyId, SecretAccessKey, SmtpUsername, SmtpPassword, SmtpRegion, SmtpEndpoint string
}

func (f *fixture) smtpValue() smtpValue {
	f.t.Helper()
	value, _ := f.parameter()
	var v smtpValue
	if err := json.Unmarshal([]byte(value), &v); err != nil {
		f.t.Fatal("parameter value is not JSON")
	}
	return v
}

func sign(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func TestSESSMTPRotationStoresTheDerivedPasswordAndProvesTheKeyWithSTS(t *testing.T) {
	f := newFixture(t)
	old, oldSecret := f.userWithKey()
	r := f.rotate(f.execution(), rotation.Rotation{
		Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero(), Format: rotation.FormatSESSMTP, SESRegion: "eu-west-1", ChangeFormat: true},
	})
	v := f.smtpValue()
	// Derived again here from the documented steps (smtp_internal_test.go checks smtp.go against Python).
	sig := sign([]byte("AWS4"+v.SecretAccessKey), "11111111")
	for _, m := range []string{"eu-west-1", "ses", "aws4_request", "SendRawEmail"} {
		sig = sign(sig, m)
	}
	wantPassword := base64.StdEncoding.EncodeToString(append([]byte{4}, sig...))
	if v.AccessKeyId != r.NewAccessKeyID || v.SmtpUsername != r.NewAccessKeyID || v.SmtpRegion != "eu-west-1" ||
		v.SmtpEndpoint != "email-smtp.eu-west-1.amazonaws.com" || v.SmtpPassword != wantPassword {
		t.Errorf("ses-smtp value: key %s user %s region %s endpoint %s, password derived: %v; want the new key %s in eu-west-1",
			v.AccessKeyId, v.SmtpUsername, v.SmtpRegion, v.SmtpEndpoint, v.SmtpPassword == wantPassword, r.NewAccessKeyID)
	}
	if r.STSCalls != 1 || r.VerifiedAt == "" || r.SESRegion != "eu-west-1" {
		t.Errorf("stsCalls=%d verifiedAt=%q sesRegion=%q: the key was not proven with STS", r.STSCalls, r.VerifiedAt, r.SESRegion)
	}
	if got := f.keys(); len(got) != 1 || got[old] != "" {
		t.Errorf("keys after rotation = %v, want only the new key", got)
	}
	f.assertSecretNowhere(v.SecretAccessKey)
	f.assertSecretNowhere(v.SmtpPassword)
	f.assertSecretNowhere(oldSecret)
}

func TestVerifyRefusesASESSMTPValueWhosePasswordIsNotTheKeys(t *testing.T) {
	f := newFixture(t)
	f.createUser()
	exec := f.execution()
	r := rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero(), Format: rotation.FormatSESSMTP, SESRegion: "us-east-1"}}
	for _, action := range []string{"begin", "create", "store"} {
		r = f.mustRun(action, exec, r)
	}
	// The password of another region: a well-formed value that no SES endpoint of us-east-1 accepts.
	v := f.smtpValue()
	v.SmtpPassword = "BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	b, _ := json.Marshal(v)
	f.putParameter(string(b), "keyrotor:"+r.NewAccessKeyID)
	_, err := f.run("verify", exec, r)
	if errorName(err) != rotation.VerificationFailed {
		t.Fatalf("verify of a wrong SMTP password: %v (%s), want %s", err, errorName(err), rotation.VerificationFailed)
	}
	f.assertSecretNowhere(v.SecretAccessKey)
}

func TestBeginSettlesTheSESRegionOrRefusesItClearly(t *testing.T) {
	region := func(r string) iamtypes.Tag {
		return iamtypes.Tag{Key: aws.String(rotation.SESRegionTagKey), Value: aws.String(r)}
	}
	managed := iamtypes.Tag{Key: aws.String(rotation.ManagedTagKey), Value: aws.String(rotation.ManagedTagValue)}
	tests := []struct {
		name       string
		tags       []iamtypes.Tag
		format     string
		sesRegion  string
		wantErr    string
		wantRegion string
	}{
		{name: "ses-smtp with the region in the input", format: rotation.FormatSESSMTP, sesRegion: "eu-west-1", wantRegion: "eu-west-1"},
		{name: "ses-smtp with the region from the user's tag", tags: []iamtypes.Tag{region("ap-southeast-2")}, format: rotation.FormatSESSMTP, wantRegion: "ap-southeast-2"},
		{name: "ses-smtp without any region", format: rotation.FormatSESSMTP, wantErr: rotation.InvalidInput},
		{name: "a region that is no region code", format: rotation.FormatSESSMTP, sesRegion: "Ireland", wantErr: rotation.InvalidInput},
		{name: "a tagged region that is no region code", tags: []iamtypes.Tag{region("email-smtp")}, format: rotation.FormatSESSMTP, wantErr: rotation.InvalidInput},
		{name: "a region contradicting the user's tag", tags: []iamtypes.Tag{region("us-east-1")}, format: rotation.FormatSESSMTP, sesRegion: "eu-west-1", wantErr: rotation.FormatMismatch},
		{name: "a region with the json format", format: rotation.FormatJSON, sesRegion: "eu-west-1", wantErr: rotation.InvalidInput},
		{name: "an unknown format", format: "smtp", wantErr: rotation.InvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.createUser(append(tt.tags, managed)...)
			r, err := f.run("begin", f.execution(), rotation.Rotation{Input: rotation.Input{UserName: f.user, Format: tt.format, SESRegion: tt.sesRegion}})
			if tt.wantErr != "" {
				if errorName(err) != tt.wantErr || f.lockHeld() {
					t.Fatalf("begin: %v (%s), lock held %v; want %s and no lock", err, errorName(err), f.lockHeld(), tt.wantErr)
				}
				return
			}
			if err != nil || r.SESRegion != tt.wantRegion {
				t.Fatalf("begin: %v, sesRegion %q; want %q", err, r.SESRegion, tt.wantRegion)
			}
		})
	}
}
