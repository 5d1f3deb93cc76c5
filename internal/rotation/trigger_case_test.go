package rotation_test

import (
	"maps"
	"strings"
	"testing"

	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// IAM resolves a user name in any case to the one user (localaws/faultproxy/iamnames.go plays
// it over moto): a Terraform destroy naming VICTIM reaches victim's keys while the default
// parameter /keyrotor/VICTIM is nobody's. The trigger, invoked as aws_lambda_invocation does,
// refuses the name IAM spells otherwise, and victim keeps its key and parameter.
func TestTriggerDeleteNamingACaseVariantHarmsNoOne(t *testing.T) {
	f := newFixture(t)
	id, secret := f.userWithKey()
	before := f.keys()
	host, arn := triggerHost(t)
	upper := rotation.Input{UserName: strings.ToUpper(f.user)}
	res, err := host.Invoke(f.ctx, arn, tfEvent("delete", upper, &upper))
	if err != nil {
		t.Fatal(err)
	}
	f.outputs = append(f.outputs, string(res.Payload), strings.Join(res.Logs, "\n"))
	if res.ErrorType != rotation.NotAuthorized || !strings.Contains(res.ErrorMessage, "case-insensitive") {
		t.Fatalf("delete naming %s answered %s %q %s; want NotAuthorized: IAM names are case-insensitive", upper.UserName, res.ErrorType, res.ErrorMessage, res.Payload)
	}
	if after := f.keys(); !maps.Equal(before, after) || after[id] != iamtypes.StatusTypeActive {
		t.Fatalf("%s's keys %v became %v", f.user, before, after)
	}
	if got, s := f.storedSecret(); got != id || s != secret {
		t.Fatalf("%s's parameter holds %s, want %s", f.user, got, id)
	}
	f.assertSecretNowhere(secret)
}
