package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// TestAuditIsAComplianceGate: exit 0 while every active key is younger than --max-age, exit 1
// once one is older (here --max-age 1s against a key created before it), with the key named in
// the table and in --json, and no secret in either.
func TestAuditIsAComplianceGate(t *testing.T) {
	ctx := context.Background()
	srv := testutil.Moto(t, motoserver.Options{})
	key := testutil.CreateUser(t, srv.AdminConfig(), "legacy", 1)[0]
	id, secret := key.AccessKeyID, key.SecretAccessKey
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": srv.Endpoint, "AWS_REGION": motoserver.Region,
		"AWS_ACCESS_KEY_ID": srv.Admin.AccessKeyID, "AWS_SECRET_ACCESS_KEY": srv.Admin.SecretAccessKey,
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}

	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"audit"}, &out, &errOut); code != exitOK {
		t.Fatalf("audit with a fresh key: exit %d, want 0\n%s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), id) || strings.Contains(out.String(), " yes\n") {
		t.Errorf("audit table should list %s unflagged:\n%s", id, out.String())
	}

	// moto stamps CreateDate in whole seconds; a key is over 1s once two have passed.
	testutil.WaitFor(t, 10*time.Second, "audit --max-age 1s to fail the gate", func() bool {
		out.Reset()
		errOut.Reset()
		return run(ctx, []string{"audit", "--max-age", "1s", "--json"}, &out, &errOut) == exitFailed
	})
	var r struct {
		OverMaxAge int `json:"over_max_age"`
		Keys       []struct {
			AccessKeyID string `json:"access_key_id"`
			OverMaxAge  bool   `json:"over_max_age"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, out.String())
	}
	if r.OverMaxAge != 1 || len(r.Keys) != 1 || r.Keys[0].AccessKeyID != id || !r.Keys[0].OverMaxAge {
		t.Errorf("audit --json = %+v, want the one key %s over the max age", r, id)
	}
	if !strings.Contains(errOut.String(), "older than") {
		t.Errorf("stderr should say why the gate failed: %q", errOut.String())
	}
	if strings.Contains(out.String()+errOut.String(), secret) {
		t.Fatal("the audit printed the secret access key")
	}
	if code := run(ctx, []string{"audit", "--max-age", "soon"}, &out, &errOut); code != exitUsage {
		t.Errorf("--max-age soon: exit %d, want usage error %d", code, exitUsage)
	}
}
