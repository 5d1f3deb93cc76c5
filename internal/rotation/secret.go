package rotation

import "log/slog"

// SecretKey holds a secret access key. It prints, logs and marshals as "[redacted]" so that a
// careless log line or error cannot leak it; reveal() is the one way to the plaintext.
type SecretKey struct{ value string }

const redacted = "[redacted]"

// NewSecretKey wraps a secret access key.
func NewSecretKey(secret string) SecretKey { return SecretKey{value: secret} }

func (s SecretKey) reveal() string             { return s.value }
func (SecretKey) String() string               { return redacted }
func (SecretKey) GoString() string             { return redacted }
func (SecretKey) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (SecretKey) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (SecretKey) MarshalText() ([]byte, error) { return []byte(redacted), nil }
