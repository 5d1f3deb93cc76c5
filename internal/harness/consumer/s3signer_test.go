package consumer_test

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/localaws/logbuffer"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// presignResponse is the s3-signer consumers' answer (Go: presigner.Response).
type presignResponse struct {
	URL         string `json:"url"`
	ExpiresAt   string `json:"expiresAt"`
	AccessKeyID string `json:"accessKeyId"`
	Error       string `json:"error"`
}

// TestS3SignerNodeConsumerPresignsWithTheRotatedKey runs infra/examples/s3-signer/consumer-node's
// handler as Lambda would call it, warm, across a rotation: its URLs are signed with the stored
// secret (recomputed independently), the key is read at run time, and after a rotation the
// handler signs with the new key once its TTL (1 s here) has passed, without a restart.
func TestS3SignerNodeConsumerPresignsWithTheRotatedKey(t *testing.T) {
	f := newRotationFixture(t, "node-s3-signer", "json")
	first := f.rotate(t, 0, "json", func(string) {})

	root, err := deployed.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := consumerCommand(t, "node"); err != nil {
		t.Fatal(err)
	}
	// The example's package.json takes @keyrotor/credentials from consumers/node (a file:
	// dependency); here it is linked so, and the AWS SDK comes from consumers/node's install.
	modules := t.TempDir()
	if err := os.MkdirAll(filepath.Join(modules, "@keyrotor"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "consumers", "node"), filepath.Join(modules, "@keyrotor", "credentials")); err != nil {
		t.Fatal(err)
	}
	// Calls the handler once per request line, in one process, as a warm Lambda would.
	const driver = `const h = require(process.argv[1]);
require("readline").createInterface({ input: process.stdin }).on("line", async (line) => {
  try { console.log(JSON.stringify(await h.handler(JSON.parse(line)))); }
  catch (e) { console.log(JSON.stringify({ error: e.message })); }
});`
	cmd := exec.Command("node", "-e", driver, filepath.Join(root, "infra", "examples", "s3-signer", "consumer-node", "index.js"))
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"NODE_PATH=" + modules + string(os.PathListSeparator) + filepath.Join(root, "consumers", "node", "node_modules"),
		"AWS_ENDPOINT_URL=" + moto.srv.Endpoint, "AWS_REGION=" + motoserver.Region,
		"AWS_ACCESS_KEY_ID=" + moto.srv.Admin.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + moto.srv.Admin.SecretAccessKey,
		"AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull, "AWS_EC2_METADATA_DISABLED=true",
		"SIGNER_PARAMETER_NAME=" + f.param, "SIGNER_CACHE_TTL_SECONDS=1", "SIGNER_URL_MAX_SECONDS=900",
		"SIGNER_S3_ENDPOINT=" + moto.srv.Endpoint,
	}
	stderr := &logbuffer.Buffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	var output strings.Builder
	invoke := func(req string) presignResponse {
		t.Helper()
		if _, err := io.WriteString(stdin, req+"\n"); err != nil {
			t.Fatal(err)
		}
		for lines.Scan() {
			output.WriteString(lines.Text() + "\n")
			var resp presignResponse
			if json.Unmarshal(lines.Bytes(), &resp) == nil && (resp.URL != "" || resp.Error != "") {
				return resp
			}
		}
		t.Fatalf("the handler ended: %v\n%s%s", lines.Err(), output.String(), stderr.String())
		return presignResponse{}
	}

	req := `{"bucket":"` + f.bucket + `","key":"2026/q3 report.txt","expiresSeconds":60}`
	got := invoke(req)
	if got.Error != "" || got.AccessKeyID != first.NewAccessKeyID {
		t.Fatalf("first URL: %+v; want one signed with the stored key %s", got, first.NewAccessKeyID)
	}
	if err := testutil.VerifyPresignedURL(got.URL, f.secrets[0]); err != nil {
		t.Fatalf("the URL is not signed with the stored secret: %v", err)
	}
	if err := testutil.VerifyPresignedURL(got.URL, "not-the-secret"); err == nil {
		t.Fatal("VerifyPresignedURL accepted a wrong secret")
	}
	if at, err := time.Parse(time.RFC3339, got.ExpiresAt); err != nil || time.Until(at) > time.Minute || time.Until(at) < 50*time.Second {
		t.Errorf("expiresAt %q, want about 60 s from now", got.ExpiresAt)
	}

	second := f.rotate(t, 1, "json", func(string) {})
	testutil.WaitFor(t, 30*time.Second, "the handler signs with the rotated key", func() bool {
		got = invoke(req)
		return got.AccessKeyID == second.NewAccessKeyID
	})
	if err := testutil.VerifyPresignedURL(got.URL, f.secrets[1]); err != nil {
		t.Fatalf("the URL after the rotation is not signed with the new secret: %v", err)
	}

	for _, bad := range []struct{ req, want string }{
		{`{"key":"k"}`, "bucket and key are required"},
		{`{"bucket":"b","key":"k","expiresSeconds":901}`, "between 1 and 900"},
	} {
		if got := invoke(bad.req); !strings.Contains(got.Error, bad.want) {
			t.Errorf("request %s answered %+v, want an error saying %q", bad.req, got, bad.want)
		}
	}
	all := output.String() + stderr.String()
	for _, s := range f.secrets {
		if strings.Contains(all, s) {
			t.Error("a secret access key appears in the handler's output")
		}
	}
	if !strings.Contains(all, `"accessKeyId":"`+second.NewAccessKeyID+`"`) {
		t.Errorf("the handler's logs do not name the key it read: %s", all)
	}
}
