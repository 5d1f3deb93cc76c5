package ssmcreds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

// Client is what the provider uses of the SSM client (*ssm.Client satisfies it). The history
// is read only for the raw format, whose AccessKeyId is in the version's Description.
type Client interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	ssm.GetParameterHistoryAPIClient
}

// Format is how keyrotor wrote the parameter value (the rotation's "format" input).
type Format string

const (
	// FormatJSON is {"AccessKeyId": ..., "SecretAccessKey": ...}, keyrotor's default.
	FormatJSON Format = "json"
	// FormatRaw is the secret access key alone; the version's Description is
	// "keyrotor:<AccessKeyId>".
	FormatRaw Format = "raw"
)

// DefaultTTL is how long a read key is used before the parameter is read again. It is well
// under the shortest grace a rotation is normally given (the example uses 900 s), so every
// consumer has moved to the new key before the old one is deactivated.
const DefaultTTL = 5 * time.Minute

// RefreshRetryInterval is how long a key is kept after a failed re-read before the parameter
// is read again.
const RefreshRetryInterval = time.Minute

// descriptionPrefix is how internal/rotation marks the key a parameter version holds.
const descriptionPrefix = "keyrotor:"

// Options configure a Provider.
type Options struct {
	// Format of the parameter value; FormatJSON when empty.
	Format Format
	// TTL after which the credentials expire, so aws.CredentialsCache reads the parameter
	// again; DefaultTTL when zero or negative.
	TTL time.Duration
	// Logger receives one record per read (parameter, version, accessKeyId — never the
	// secret); nil logs nothing.
	Logger *slog.Logger
	// Now is the clock the expiry is computed from; time.Now when nil.
	Now func() time.Time
}

// Errors a read can end in, for errors.Is; the error text says which parameter and what to do.
var (
	// ErrParameterNotFound: the parameter does not exist (yet).
	ErrParameterNotFound = errors.New("keyrotor parameter not found")
	// ErrMalformed: the value or its Description is not what keyrotor writes in the
	// configured format.
	ErrMalformed = errors.New("keyrotor parameter malformed")
)

// Provider reads a keyrotor parameter on every Retrieve. It does not cache: wrap it in an
// aws.CredentialsCache (New does), which serves the key until it expires after the TTL or
// until Invalidate. When a read after the TTL fails (SSM throttled or unreachable), the cache
// keeps the key it has for another RefreshRetryInterval instead of failing every request; a
// key dropped by Invalidate is never kept.
type Provider struct {
	client    Client
	parameter string
	options   Options
}

// NewProvider returns a Provider for the parameter named parameterName (the managed-key
// module's parameter_name output), read through client.
func NewProvider(client Client, parameterName string, optFns ...func(*Options)) *Provider {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Format == "" {
		o.Format = FormatJSON
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Provider{client: client, parameter: parameterName, options: o}
}

// New returns the parameter's key as cached credentials: an *aws.CredentialsCache over a
// Provider. config.LoadDefaultConfig and service clients use an *aws.CredentialsCache as it
// is instead of wrapping it in a cache of their own, so its Invalidate (see
// InvalidateOnAuthFailure) reaches the credentials every request is signed with.
func New(client Client, parameterName string, optFns ...func(*Options)) *aws.CredentialsCache {
	return aws.NewCredentialsCache(NewProvider(client, parameterName, optFns...))
}

// Retrieve reads the parameter with decryption and returns its key, expiring after the TTL.
func (p *Provider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	if p.parameter == "" {
		return aws.Credentials{}, errors.New("ssmcreds: no parameter name given: pass the managed-key module's parameter_name, e.g. /keyrotor/s3-signer")
	}
	if p.options.Format != FormatJSON && p.options.Format != FormatRaw {
		return aws.Credentials{}, fmt.Errorf("ssmcreds: format %q for parameter %s must be %q or %q, as the rotation's format input",
			p.options.Format, p.parameter, FormatJSON, FormatRaw)
	}
	out, err := p.client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(p.parameter), WithDecryption: aws.Bool(true)})
	if err != nil {
		return aws.Credentials{}, p.readError(err)
	}
	if out.Parameter == nil {
		return aws.Credentials{}, fmt.Errorf("ssmcreds: SSM returned no value for parameter %s: %w", p.parameter, ErrMalformed)
	}
	version := out.Parameter.Version
	value := aws.ToString(out.Parameter.Value)
	var id, secret string
	switch p.options.Format {
	case FormatJSON:
		id, secret, err = p.parseJSON(value, version)
	case FormatRaw:
		id, secret, err = p.parseRaw(ctx, value, version)
	}
	if err != nil {
		return aws.Credentials{}, err
	}
	if p.options.Logger != nil {
		p.options.Logger.InfoContext(ctx, "read key from keyrotor parameter",
			"parameter", p.parameter, "version", version, "accessKeyId", id, "ttl", p.options.TTL.String())
	}
	return aws.Credentials{
		AccessKeyID:     id,
		SecretAccessKey: secret,
		Source:          "ssmcreds:" + p.parameter,
		CanExpire:       true,
		Expires:         p.options.Now().Add(p.options.TTL),
	}, nil
}

// HandleFailToRefresh is called by aws.CredentialsCache when Retrieve fails: it keeps the
// previous key (if the cache still had one) for RefreshRetryInterval.
func (p *Provider) HandleFailToRefresh(ctx context.Context, previous aws.Credentials, err error) (aws.Credentials, error) {
	if previous.AccessKeyID == "" || !previous.HasKeys() {
		return aws.Credentials{}, err
	}
	previous.Expires = p.options.Now().Add(RefreshRetryInterval)
	if p.options.Logger != nil {
		p.options.Logger.WarnContext(ctx, "re-reading keyrotor parameter failed; keeping the current key",
			"parameter", p.parameter, "accessKeyId", previous.AccessKeyID, "retryIn", RefreshRetryInterval.String(), "error", err.Error())
	}
	return previous, nil
}

// readError explains a failed GetParameter. SDK errors never carry the value.
func (p *Provider) readError(err error) error {
	var notFound *ssmtypes.ParameterNotFound
	if errors.As(err, &notFound) {
		return fmt.Errorf("ssmcreds: parameter %s does not exist: check the name (the managed-key module's parameter_name) "+
			"or run a keyrotor rotation for its user, which creates it: %w", p.parameter, errors.Join(ErrParameterNotFound, err))
	}
	var api smithy.APIError
	if errors.As(err, &api) && strings.Contains(api.ErrorCode(), "AccessDenied") {
		return fmt.Errorf("ssmcreds: not allowed to read parameter %s: the caller needs ssm:GetParameter on it "+
			"(and ssm:GetParameterHistory for format raw) and kms:Decrypt on its KMS key: %w", p.parameter, err)
	}
	return fmt.Errorf("ssmcreds: read parameter %s: %w", p.parameter, err)
}

// storedKey is the json format.
type storedKey struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
}

// parseJSON never puts the value or the JSON parser's message (which may quote it) into an error.
func (p *Provider) parseJSON(value string, version int64) (string, string, error) {
	if !strings.HasPrefix(strings.TrimSpace(value), "{") {
		return "", "", fmt.Errorf(`ssmcreds: parameter %s (version %d) is not JSON {"AccessKeyId","SecretAccessKey"}; `+
			`it looks like a raw secret (rotation format "raw"): read it with Format %q: %w`, p.parameter, version, FormatRaw, ErrMalformed)
	}
	var k storedKey
	if json.Unmarshal([]byte(value), &k) != nil {
		return "", "", fmt.Errorf(`ssmcreds: parameter %s (version %d) is not valid JSON {"AccessKeyId","SecretAccessKey"}; `+
			`it was not written by keyrotor: rotate the key again with keyrotor: %w`, p.parameter, version, ErrMalformed)
	}
	if k.AccessKeyID == "" || k.SecretAccessKey == "" {
		return "", "", fmt.Errorf(`ssmcreds: parameter %s (version %d) lacks AccessKeyId or SecretAccessKey; `+
			`it was not written by keyrotor: rotate the key again with keyrotor: %w`, p.parameter, version, ErrMalformed)
	}
	return k.AccessKeyID, k.SecretAccessKey, nil
}

// parseRaw takes the AccessKeyId from the Description of exactly the version GetParameter
// returned, so a rotation between the two calls cannot pair a secret with another key's id.
func (p *Provider) parseRaw(ctx context.Context, value string, version int64) (string, string, error) {
	if strings.HasPrefix(strings.TrimSpace(value), "{") {
		return "", "", fmt.Errorf(`ssmcreds: parameter %s (version %d) holds JSON, not a raw secret; `+
			`it was rotated with format "json": read it with Format %q: %w`, p.parameter, version, FormatJSON, ErrMalformed)
	}
	if value == "" || strings.ContainsAny(value, " \t\r\n") {
		return "", "", fmt.Errorf(`ssmcreds: parameter %s (version %d) is not a secret access key (empty or has whitespace); `+
			`rotate the key again with keyrotor: %w`, p.parameter, version, ErrMalformed)
	}
	pages := ssm.NewGetParameterHistoryPaginator(p.client, &ssm.GetParameterHistoryInput{
		Name: aws.String(p.parameter), WithDecryption: aws.Bool(false),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return "", "", fmt.Errorf("ssmcreds: read the history of parameter %s for the AccessKeyId of its raw secret: %w", p.parameter, p.readError(err))
		}
		for _, v := range page.Parameters {
			if v.Version != version {
				continue
			}
			id, ok := strings.CutPrefix(aws.ToString(v.Description), descriptionPrefix)
			if !ok || id == "" {
				return "", "", fmt.Errorf(`ssmcreds: parameter %s (version %d) has no Description "keyrotor:<AccessKeyId>", `+
					`so the key id of its raw secret is unknown; it was not written by keyrotor: rotate the key again with keyrotor: %w`,
					p.parameter, version, ErrMalformed)
			}
			return id, value, nil
		}
	}
	return "", "", fmt.Errorf("ssmcreds: version %d of parameter %s is missing from its history; read it again: %w", version, p.parameter, ErrMalformed)
}
