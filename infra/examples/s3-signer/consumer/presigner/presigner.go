// Package presigner is the s3-signer example's consumer: it reads the key that keyrotor keeps in
// an SSM SecureString parameter at run time and presigns S3 GET URLs with it. Reading per
// request means a rotated key is picked up without a deploy.
package presigner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// ParameterReader is the part of the SSM client the presigner uses.
type ParameterReader interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// Request asks for a presigned GET of one object.
type Request struct {
	Bucket         string `json:"bucket"`
	Key            string `json:"key"`
	ExpiresSeconds int    `json:"expiresSeconds"`
}

// Response is the presigned URL. It names the signing key's id, never its secret.
type Response struct {
	URL         string    `json:"url"`
	ExpiresAt   time.Time `json:"expiresAt"`
	AccessKeyID string    `json:"accessKeyId"`
}

// Presigner signs with the key held in Parameter.
type Presigner struct {
	SSM       ParameterReader
	Parameter string // the managed-key module's parameter_name (format "json")
	Region    string
	// Endpoint, if set, replaces https://<bucket>.s3.<region>.amazonaws.com with
	// <Endpoint>/<bucket> (path style), for local S3 endpoints.
	Endpoint string
	Now      func() time.Time
}

// DefaultExpiresSeconds applies when a request gives no expiry; S3 allows at most a week.
const (
	DefaultExpiresSeconds = 900
	MaxExpiresSeconds     = 604800
)

// storedKey is the parameter value in keyrotor's "json" format.
type storedKey struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
}

// Presign returns a URL that lets its holder GET req.Key from req.Bucket until it expires.
func (p *Presigner) Presign(ctx context.Context, req Request) (Response, error) {
	if req.Bucket == "" || req.Key == "" {
		return Response{}, errors.New("invalid request: bucket and key are required, e.g. {\"bucket\":\"reports\",\"key\":\"2026/q3.pdf\"}")
	}
	expires := req.ExpiresSeconds
	if expires == 0 {
		expires = DefaultExpiresSeconds
	}
	if expires < 1 || expires > MaxExpiresSeconds {
		return Response{}, fmt.Errorf("invalid request: expiresSeconds %d must be between 1 and %d", req.ExpiresSeconds, MaxExpiresSeconds)
	}
	key, err := p.readKey(ctx)
	if err != nil {
		return Response{}, err
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	signedAt := now().UTC()

	target := p.objectURL(req.Bucket, req.Key)
	q := target.Query()
	q.Set("X-Amz-Expires", strconv.Itoa(expires))
	target.RawQuery = q.Encode()
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return Response{}, fmt.Errorf("build request for s3://%s/%s: %w", req.Bucket, req.Key, err)
	}
	// S3 signs the path as sent, without escaping it a second time.
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}
	signed, _, err := signer.PresignHTTP(ctx, creds, httpReq, "UNSIGNED-PAYLOAD", "s3", p.Region, signedAt)
	if err != nil {
		return Response{}, fmt.Errorf("presign s3://%s/%s: %w", req.Bucket, req.Key, err)
	}
	return Response{URL: signed, ExpiresAt: signedAt.Add(time.Duration(expires) * time.Second), AccessKeyID: key.AccessKeyID}, nil
}

func (p *Presigner) readKey(ctx context.Context) (storedKey, error) {
	out, err := p.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(p.Parameter), WithDecryption: aws.Bool(true)})
	if err != nil {
		return storedKey{}, fmt.Errorf("read signing key from parameter %s: %w", p.Parameter, err)
	}
	var key storedKey
	// The error would quote the value, so it is replaced by a description.
	if out.Parameter == nil || json.Unmarshal([]byte(aws.ToString(out.Parameter.Value)), &key) != nil {
		return storedKey{}, fmt.Errorf("parameter %s does not hold a JSON key: rotate it with format \"json\"", p.Parameter)
	}
	if key.AccessKeyID == "" || key.SecretAccessKey == "" {
		return storedKey{}, fmt.Errorf("parameter %s lacks AccessKeyId or SecretAccessKey: rotate it with format \"json\"", p.Parameter)
	}
	return key, nil
}

func (p *Presigner) objectURL(bucket, key string) *url.URL {
	segments := strings.Split(key, "/")
	for i, s := range segments {
		segments[i] = url.PathEscape(s)
	}
	escaped := strings.Join(segments, "/")
	if p.Endpoint != "" {
		u, err := url.Parse(strings.TrimSuffix(p.Endpoint, "/"))
		if err == nil {
			u.Path = "/" + bucket + "/" + key
			u.RawPath = "/" + url.PathEscape(bucket) + "/" + escaped
			return u
		}
	}
	return &url.URL{Scheme: "https", Host: bucket + ".s3." + p.Region + ".amazonaws.com", Path: "/" + key, RawPath: "/" + escaped}
}
