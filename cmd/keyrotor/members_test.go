package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/keyrotor/keyrotor/internal/localenv"
)

// rotate, status, history and audit take --account: a member account's user is rotated by the
// engine through its keyrotor-target role and read through the account's
// OrganizationAccountAccessRole; no command prints the secret.
func TestCommandsTakeAMemberAccount(t *testing.T) {
	useLocal(t)
	ctx := context.Background()
	member := env.MemberAccountIDs()[0]
	user, param := "cli-member-signer", "/keyrotor/cli-member-signer"
	if _, err := env.CreateManagedUser(ctx, localenv.ManagedUser{Name: user, Keys: 1, Parameter: param, Account: member}); err != nil {
		t.Fatal(err)
	}
	var outputs []string
	code, stdout, stderr := cli(t, "rotate", "--account", member, "--user", user, "--grace", "0", "--inactive", "0", "--wait")
	outputs = append(outputs, stdout, stderr)
	if code != exitOK || !strings.Contains(stdout, "new access key AKIA") {
		t.Fatalf("rotate --account exited %d:\n%s\n%s", code, stdout, stderr)
	}

	for _, tc := range []struct {
		name string
		args []string
		want func(t *testing.T, out string)
	}{
		{"status reads the member's user and parameter", []string{"status", "--account", member, "--user", user, "--json"}, func(t *testing.T, out string) {
			var s userStatus
			if err := json.Unmarshal([]byte(out), &s); err != nil {
				t.Fatalf("status --json: %v", err)
			}
			if !strings.Contains(s.ARN, ":"+member+":") || len(s.Keys) != 1 || !s.Keys[0].InParameter || !s.ParameterFound {
				t.Errorf("status of %s in %s: %+v", user, member, s)
			}
		}},
		{"history finds the member's latest rotation", []string{"history", "--account", member, "--json"}, func(t *testing.T, out string) {
			var h historyReport
			if err := json.Unmarshal([]byte(out), &h); err != nil {
				t.Fatalf("history --json: %v", err)
			}
			if h.Status != "SUCCEEDED" || h.Parameter != param {
				t.Errorf("history --account %s: %s %s", member, h.Status, h.Parameter)
			}
		}},
		{"audit groups accounts", []string{"audit", "--account", member, "--account", localenv.AccountID, "--json"}, func(t *testing.T, out string) {
			var a struct {
				Accounts []struct {
					AccountID string `json:"account_id"`
					Keys      []struct {
						User   string `json:"user"`
						HeldBy string `json:"held_by"`
					} `json:"keys"`
				} `json:"accounts"`
			}
			if err := json.Unmarshal([]byte(out), &a); err != nil || len(a.Accounts) != 2 {
				t.Fatalf("audit --json with two accounts: %v %s", err, out)
			}
			held := map[string]bool{}
			for _, acc := range a.Accounts {
				for _, k := range acc.Keys {
					if k.User == user && k.HeldBy == param {
						held[acc.AccountID] = true
					}
				}
			}
			if !held[member] || held[localenv.AccountID] {
				t.Errorf("audit: %s's key held by %s in %v, want in %s only", user, param, held, member)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, tc.args...)
			outputs = append(outputs, stdout, stderr)
			if code != exitOK && !(tc.args[0] == "audit" && code == exitFailed) {
				t.Fatalf("%v exited %d:\n%s\n%s", tc.args, code, stdout, stderr)
			}
			tc.want(t, stdout)
		})
	}
	if code, _, stderr := cli(t, "status", "--account", "12345", "--user", user); code != exitUsage {
		t.Errorf("status --account 12345 exited %d (%s), want a usage error", code, stderr)
	}

	cfg, err := env.AccountConfig(member)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	var key struct{ SecretAccessKey string }
	if err := json.Unmarshal([]byte(aws.ToString(out.Parameter.Value)), &key); err != nil || key.SecretAccessKey == "" {
		t.Fatal("the member parameter holds no JSON key")
	}
	for _, o := range outputs {
		if strings.Contains(o, key.SecretAccessKey) {
			t.Fatal("a command printed the member user's secret")
		}
	}
}
