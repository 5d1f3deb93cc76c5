package rotation

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// smtpPython derives SES SMTP passwords as AWS documents the steps ("Obtaining Amazon SES SMTP
// credentials by converting existing AWS credentials", SES Developer Guide), written
// independently of smtp.go with Python's hmac: one "secret region" pair a line in, one
// password a line out.
const smtpPython = `
import base64, hashlib, hmac, sys
def sign(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()
for line in sys.stdin:
    secret, region = line.split()
    sig = sign(("AWS4" + secret).encode("utf-8"), "11111111")
    for msg in (region, "ses", "aws4_request", "SendRawEmail"):
        sig = sign(sig, msg)
    print(base64.b64encode(bytes([0x04]) + sig).decode())
`

// randomSecret is a 40-character secret access key of the alphabet IAM uses (base64's).
func randomSecret(t *testing.T) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := make([]byte, 40)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func TestSMTPPasswordMatchesAnIndependentPythonImplementation(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed for the independent implementation:", err)
	}
	const keys = 1000
	regions := []string{"us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2", "sa-east-1", "us-gov-west-1"}
	type pair struct{ secret, region string }
	var pairs []pair
	var in bytes.Buffer
	for range keys {
		s := randomSecret(t)
		for _, r := range regions {
			pairs = append(pairs, pair{s, r})
			fmt.Fprintf(&in, "%s %s\n", s, r)
		}
	}
	cmd := exec.Command(python, "-c", smtpPython)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v: %s", err, stderr.String())
	}
	lines := bufio.NewScanner(bytes.NewReader(out))
	differences, n := 0, 0
	for lines.Scan() {
		if n >= len(pairs) {
			t.Fatalf("python printed more than %d passwords", len(pairs))
		}
		p := pairs[n]
		if got := SMTPPassword(NewSecretKey(p.secret), p.region).reveal(); got != strings.TrimSpace(lines.Text()) {
			differences++
			if differences <= 3 {
				t.Errorf("pair %d (%s): Go and Python derive different passwords", n, p.region)
			}
		}
		n++
	}
	if n != len(pairs) {
		t.Fatalf("python printed %d passwords for %d pairs", n, len(pairs))
	}
	fmt.Printf("ses-smtp: %d derivations (%d random keys x %d regions) against Python's hmac, %d differences\n", n, keys, len(regions), differences)
}

func TestSMTPPasswordHasTheDocumentedShape(t *testing.T) {
	// Version byte 0x04 then a 32-byte HMAC-SHA256: 33 bytes, 44 base64 characters, and the
	// region changes the password.
	s := NewSecretKey(randomSecret(t))
	a, b := SMTPPassword(s, "eu-west-1").reveal(), SMTPPassword(s, "us-east-1").reveal()
	if len(a) != 44 || !strings.HasPrefix(a, "B") || a == b {
		t.Errorf("passwords %d chars, prefix %q, equal across regions %v; want 44, \"B\" (0x04), different", len(a), a[:1], a == b)
	}
	if got := fmt.Sprint(SMTPPassword(s, "eu-west-1")); got != redacted {
		t.Errorf("a derived password prints as %q, want %q", got, redacted)
	}
}

func TestValidSESRegionAcceptsRegionCodesOnly(t *testing.T) {
	tests := []struct {
		region string
		ok     bool
	}{
		{"eu-west-1", true}, {"us-gov-west-1", true}, {"ap-southeast-3", true}, {"il-central-1", true},
		{"", false}, {"EU-WEST-1", false}, {"eu-west", false}, {"eu west 1", false}, {"email-smtp.eu-west-1.amazonaws.com", false},
	}
	for _, tt := range tests {
		if got := ValidSESRegion(tt.region); got != tt.ok {
			t.Errorf("ValidSESRegion(%q) = %v, want %v", tt.region, got, tt.ok)
		}
	}
}
