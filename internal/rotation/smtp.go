package rotation

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
)

// FormatSESSMTP stores the key for an Amazon SES SMTP consumer (a mail server, a SaaS
// integration): the SMTP user name (the access key id) and the SMTP password derived from the
// secret for the region in sesRegion. The value also carries AccessKeyId and SecretAccessKey,
// so that VerifyKey proves the key with STS, reading the parameter as a consumer does, before
// cut-over; give such a user only ses:SendRawEmail and the secret grants no more than the
// password does.
const FormatSESSMTP = "ses-smtp"

// SESRegionTagKey is the user tag naming the SES region of a ses-smtp user's SMTP password
// (the managed-key module writes it with the format), so that a scheduled or fleet rotation,
// whose input names no region, derives the password for the region its consumers use.
const SESRegionTagKey = TagPrefix + "ses-region"

// The constants of the conversion, as AWS documents them: "Obtaining Amazon SES SMTP
// credentials by converting existing AWS credentials", SES Developer Guide,
// https://docs.aws.amazon.com/ses/latest/dg/smtp-credentials.html#smtp-credentials-convert
// (the same steps as AWS's sample ses_generate_smtp_credentials.py in
// awsdocs/aws-doc-sdk-examples, python/example_code/ses). AWS publishes no input/output pair.
const (
	smtpDate     = "11111111"
	smtpService  = "ses"
	smtpTerminal = "aws4_request"
	smtpMessage  = "SendRawEmail"
	smtpVersion  = 0x04
)

// regionPattern is an AWS Region code (us-east-1, eu-central-2, us-gov-west-1). SES's SMTP
// endpoints, email-smtp.<region>.amazonaws.com, are listed per region in "Amazon Simple Email
// Service endpoints and quotas" (https://docs.aws.amazon.com/general/latest/gr/ses.html); the
// list grows, so a well-formed code is accepted and the consumer's login is the final test.
var regionPattern = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$`)

// ValidSESRegion reports whether region is a well-formed AWS Region code.
func ValidSESRegion(region string) bool { return regionPattern.MatchString(region) }

// SMTPEndpoint is the SES SMTP endpoint of region.
func SMTPEndpoint(region string) string { return "email-smtp." + region + ".amazonaws.com" }

// SMTPPassword derives the SES SMTP password of a secret access key for region: an HMAC-SHA256
// chain keyed "AWS4"+secret over date, region, service, terminal and message; the version byte
// 0x04 before the last digest; base64.
func SMTPPassword(secret SecretKey, region string) SecretKey {
	sign := func(key []byte, msg string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	sig := sign([]byte("AWS4"+secret.reveal()), smtpDate)
	for _, msg := range []string{region, smtpService, smtpTerminal, smtpMessage} {
		sig = sign(sig, msg)
	}
	return SecretKey{value: base64.StdEncoding.EncodeToString(append([]byte{smtpVersion}, sig...))}
}

// smtpKey is the ses-smtp format of the parameter value: storedKey plus what the SMTP
// consumer reads.
type smtpKey struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SMTPUsername    string `json:"SmtpUsername"`
	SMTPPassword    string `json:"SmtpPassword"`
	SMTPRegion      string `json:"SmtpRegion"`
	SMTPEndpoint    string `json:"SmtpEndpoint"`
}

// ValidFormat reports whether format is one keyrotor writes.
func ValidFormat(format string) bool {
	return format == FormatJSON || format == FormatRaw || format == FormatSESSMTP
}

// formatProblems checks format and sesRegion as given in the input (Begin resolves a format
// taken from the record, and its region, in resolveSESRegion).
func formatProblems(r Rotation) []string {
	var problems []string
	if !ValidFormat(r.Format) {
		problems = append(problems, fmt.Sprintf("format %q must be %q, %q or %q", r.Format, FormatJSON, FormatRaw, FormatSESSMTP))
	}
	if r.SESRegion != "" && !ValidSESRegion(r.SESRegion) {
		problems = append(problems, fmt.Sprintf("sesRegion %q is not an AWS Region code such as us-east-1 (the region whose SES SMTP endpoint the consumer uses)", r.SESRegion))
	}
	return problems
}

// resolveSESRegion settles sesRegion once Begin knows the format: a ses-smtp rotation takes it
// from the input or the user's keyrotor:ses-region tag (which the input may not contradict);
// any other format takes none.
func resolveSESRegion(r *Rotation, tags map[string]string) error {
	tagRegion := tags[SESRegionTagKey]
	if r.Format != FormatSESSMTP {
		if r.SESRegion != "" {
			return NewError(InvalidInput, nil, "invalid rotation input: sesRegion %q is only for format %s, and this rotation's format is %s; omit sesRegion", r.SESRegion, FormatSESSMTP, r.Format)
		}
		return nil
	}
	switch {
	case r.SESRegion == "" && tagRegion == "":
		return NewError(InvalidInput, nil, "invalid rotation input: format %s needs sesRegion, the region whose SES SMTP endpoint the consumer uses (e.g. \"sesRegion\": \"eu-west-1\"), or the user's %s tag", FormatSESSMTP, SESRegionTagKey)
	case r.SESRegion == "":
		r.SESRegion = tagRegion
	case tagRegion != "" && r.SESRegion != tagRegion:
		return NewError(FormatMismatch, nil, "IAM user %s is tagged %s=%s but this rotation asks for sesRegion %s; omit sesRegion, or change the user's tag (the managed-key module's ses_region) first",
			r.UserName, SESRegionTagKey, tagRegion, r.SESRegion)
	}
	if !ValidSESRegion(r.SESRegion) {
		return NewError(InvalidInput, nil, "invalid rotation input: sesRegion %q (from the user's %s tag) is not an AWS Region code such as us-east-1", r.SESRegion, SESRegionTagKey)
	}
	return nil
}

// parameterValue is what StoreParameter writes for r's format.
func parameterValue(r Rotation, secret SecretKey) (string, error) {
	var v any
	switch r.Format {
	case FormatRaw:
		return secret.reveal(), nil
	case FormatSESSMTP:
		v = smtpKey{
			AccessKeyID: r.NewAccessKeyID, SecretAccessKey: secret.reveal(),
			SMTPUsername: r.NewAccessKeyID, SMTPPassword: SMTPPassword(secret, r.SESRegion).reveal(),
			SMTPRegion: r.SESRegion, SMTPEndpoint: SMTPEndpoint(r.SESRegion),
		}
	default:
		v = storedKey{AccessKeyID: r.NewAccessKeyID, SecretAccessKey: secret.reveal()}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode the parameter value of format %s: %w", r.Format, err)
	}
	return string(b), nil
}

// checkSMTPValue is VerifyKey's check of a ses-smtp value beyond the key itself: the SMTP user
// name is the key id and the password is the one derived from the secret for sesRegion. Its
// messages never include the value.
func checkSMTPValue(r Rotation, value string, secret SecretKey) error {
	var k smtpKey
	if err := json.Unmarshal([]byte(value), &k); err != nil {
		return NewError(VerificationFailed, nil, "parameter %s is not JSON as format %s requires", r.ParameterName, FormatSESSMTP)
	}
	want := SMTPPassword(secret, r.SESRegion).reveal()
	switch {
	case k.SMTPUsername != r.NewAccessKeyID:
		return NewError(VerificationFailed, nil, "parameter %s: SmtpUsername is %q, not the new key %s", r.ParameterName, k.SMTPUsername, r.NewAccessKeyID)
	case k.SMTPRegion != r.SESRegion || k.SMTPEndpoint != SMTPEndpoint(r.SESRegion):
		return NewError(VerificationFailed, nil, "parameter %s: SmtpRegion/SmtpEndpoint are %q/%q, not %s/%s", r.ParameterName, k.SMTPRegion, k.SMTPEndpoint, r.SESRegion, SMTPEndpoint(r.SESRegion))
	case !hmac.Equal([]byte(k.SMTPPassword), []byte(want)):
		return NewError(VerificationFailed, nil, "parameter %s: SmtpPassword is not the SES SMTP password of key %s for %s", r.ParameterName, r.NewAccessKeyID, r.SESRegion)
	}
	return nil
}
