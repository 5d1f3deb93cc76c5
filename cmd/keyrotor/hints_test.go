package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The first AWS failures a CLI user meets — no credentials, nothing listening where
// AWS_ENDPOINT_URL points — say what to do, not the SDK's last fallback, and exit 1.
func TestFirstAWSFailuresSayWhatToDo(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + closed.Addr().String()
	closed.Close() // nothing answers there now

	for _, tc := range []struct {
		name     string
		env      map[string]string
		want     []string
		dontWant string
	}{
		{
			name: "no credentials",
			env:  map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_ENDPOINT_URL": ""},
			want: []string{"no AWS credentials found", "AWS_PROFILE", "keyrotor local up"},
			// The credential chain's last fallback is the instance metadata service.
			dontWant: "169.254.169.254",
		},
		{
			name: "nothing at the endpoint",
			env:  map[string]string{"AWS_ACCESS_KEY_ID": "AKIAKEYROTORTEST", "AWS_SECRET_ACCESS_KEY": "test", "AWS_ENDPOINT_URL": endpoint},
			want: []string{"nothing answers at " + endpoint, "is `keyrotor local up` still running?", "unset AWS_ENDPOINT_URL"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			t.Setenv("AWS_PROFILE", "")
			t.Setenv("AWS_SESSION_TOKEN", "")
			t.Setenv("AWS_ENDPOINT_URL_SFN", "")
			t.Setenv("AWS_REGION", "us-east-1")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, stderr := cliFor(t, time.Minute, "status", "--user", "someone")
			if code != exitFailed {
				t.Errorf("exit %d, want %d", code, exitFailed)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, stderr)
				}
			}
			if tc.dontWant != "" && strings.Contains(stderr, tc.dontWant) {
				t.Errorf("stderr names %q:\n%s", tc.dontWant, stderr)
			}
		})
	}
}
