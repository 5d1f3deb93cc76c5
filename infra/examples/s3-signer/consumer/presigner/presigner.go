// Package presigner is the s3-signer example's consumer: it presigns S3 GET URLs with the key
// that keyrotor keeps in an SSM SecureString parameter. The key comes from ssmcreds, which
// re-reads the parameter after its TTL, so a rotated key is picked up without a deploy or a
// restart.
package presigner

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

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

// DefaultExpiresSeconds applies when a request gives no expiry; S3 allows at most a week.
const (
	DefaultExpiresSeconds = 900
	MaxExpiresSeconds     = 604800
)

// Presigner signs with the key its credentials provide.
type Presigner struct {
	client *s3.PresignClient
	// MaxExpiresSeconds caps a URL's life below S3's week (0: MaxExpiresSeconds). The rotation's
	// grace must cover the credentials' TTL plus this cap, or URLs signed with the old key late
	// in the cache's life break when that key is deactivated (infra/examples/s3-signer).
	MaxExpiresSeconds int
}

// New returns a Presigner for cfg's region that signs with creds (ssmcreds.New over the
// signer's parameter). A non-empty endpoint (e.g. http://127.0.0.1:5000, for local S3)
// replaces S3's own, with path-style URLs.
func New(cfg aws.Config, creds aws.CredentialsProvider, endpoint string) *Presigner {
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.Credentials = creds
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
		}
	})
	return &Presigner{client: s3.NewPresignClient(client)}
}

// Presign returns a URL that lets its holder GET req.Key from req.Bucket until it expires.
// Presigning sends no request, so a refused key is met by the URL's holder; the credentials'
// TTL (ssmcreds.DefaultTTL) is kept well under the rotation's grace so URLs are signed with
// the new key long before the old one is deactivated.
func (p *Presigner) Presign(ctx context.Context, req Request) (Response, error) {
	if req.Bucket == "" || req.Key == "" {
		return Response{}, errors.New("invalid request: bucket and key are required, e.g. {\"bucket\":\"reports\",\"key\":\"2026/q3.pdf\"}")
	}
	expires := req.ExpiresSeconds
	if expires == 0 {
		expires = DefaultExpiresSeconds
	}
	limit := MaxExpiresSeconds
	if p.MaxExpiresSeconds > 0 {
		limit = p.MaxExpiresSeconds
	}
	if expires < 1 || expires > limit {
		return Response{}, fmt.Errorf("invalid request: expiresSeconds %d must be between 1 and %d", req.ExpiresSeconds, limit)
	}
	signed, err := p.client.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(req.Bucket), Key: aws.String(req.Key)},
		s3.WithPresignExpires(time.Duration(expires)*time.Second))
	if err != nil {
		return Response{}, fmt.Errorf("presign s3://%s/%s: %w", req.Bucket, req.Key, err)
	}
	// The URL says which key signed it and when; the response repeats both.
	u, err := url.Parse(signed.URL)
	if err != nil {
		return Response{}, fmt.Errorf("presign s3://%s/%s: unreadable URL: %w", req.Bucket, req.Key, err)
	}
	q := u.Query()
	signedAt, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return Response{}, fmt.Errorf("presign s3://%s/%s: URL without a signing time: %w", req.Bucket, req.Key, err)
	}
	keyID, _, _ := strings.Cut(q.Get("X-Amz-Credential"), "/")
	return Response{URL: signed.URL, ExpiresAt: signedAt.Add(time.Duration(expires) * time.Second), AccessKeyID: keyID}, nil
}
