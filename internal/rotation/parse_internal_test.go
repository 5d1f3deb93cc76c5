package rotation

import "testing"

func TestIsUserARNAcceptsOnlyTheUser(t *testing.T) {
	tests := []struct {
		arn  string
		want bool
	}{
		{"arn:aws:iam::123456789012:user/s3-signer", true},
		{"arn:aws:iam::123456789012:user/team/a/s3-signer", true},
		{"arn:aws:iam::123456789012:user/other", false},
		{"arn:aws:iam::123456789012:user/s3-signer-2", false},
		{"arn:aws:sts::123456789012:assumed-role/s3-signer/session", false},
		{"arn:aws:iam::123456789012:role/s3-signer", false},
		{"not an arn", false},
	}
	for _, tt := range tests {
		if got := isUserARN(tt.arn, "s3-signer"); got != tt.want {
			t.Errorf("isUserARN(%q) = %v, want %v", tt.arn, got, tt.want)
		}
	}
}

func TestCauseMessageReadsLambdaErrors(t *testing.T) {
	tests := []struct{ cause, want string }{
		{`{"errorMessage":"user x has 2 active access keys","errorType":"TooManyActiveKeys"}`, "user x has 2 active access keys"},
		{"Task timed out after 30.00 seconds", "Task timed out after 30.00 seconds"},
		{"", "no cause given"},
	}
	for _, tt := range tests {
		if got := causeMessage(tt.cause); got != tt.want {
			t.Errorf("causeMessage(%q) = %q, want %q", tt.cause, got, tt.want)
		}
	}
}

func TestSecretKeyNeverPrints(t *testing.T) {
	s := NewSecretKey("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	for _, got := range []string{s.String(), s.GoString(), s.LogValue().String()} {
		if got != redacted {
			t.Errorf("printed as %q", got)
		}
	}
	if b, _ := s.MarshalJSON(); string(b) != `"[redacted]"` {
		t.Errorf("marshals as %s", b)
	}
}
