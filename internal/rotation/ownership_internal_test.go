package rotation

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// Finding 9 of issue 17: the engine's floors refuse shorter waits from any caller.
func TestEngineFloorsRefuseShorterWaits(t *testing.T) {
	c := Config{ParameterPrefix: DefaultParameterPrefix, MinGraceSeconds: 300, MinInactiveSeconds: 3600}
	zero, atFloor, inactive := 0, 300, 3600
	tests := []struct {
		name            string
		grace, inactive *int
		says            string // "" when accepted
	}{
		{"zero grace", &zero, &inactive, "graceSeconds 0 must be between 300"},
		{"zero inactive", &atFloor, &zero, "inactiveSeconds 0 must be between 3600"},
		{"at the floors", &atFloor, &inactive, ""},
		{"defaults", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.withDefaults(Rotation{Input: Input{UserName: "s3-signer", GraceSeconds: tt.grace, InactiveSeconds: tt.inactive}})
			if tt.says == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if ErrorName(err) != InvalidInput || !strings.Contains(err.Error(), tt.says) || !strings.Contains(err.Error(), "KEYROTOR_MIN_") {
				t.Fatalf("got %s %v; want InvalidInput saying %q and naming the floor's variable", ErrorName(err), err, tt.says)
			}
		})
	}
}

func TestFloorsDefaultToTheModuleDefaultsAndZeroIsExplicit(t *testing.T) {
	t.Setenv(EnvMinGraceSeconds, "")
	t.Setenv(EnvMinInactiveSeconds, "0")
	c, err := ConfigFromEnv(false)
	if err == nil {
		t.Fatalf("an empty %s was accepted (floors %d/%d); it must be a number", EnvMinGraceSeconds, c.MinGraceSeconds, c.MinInactiveSeconds)
	}
	t.Setenv(EnvMinGraceSeconds, "0")
	if c, err = ConfigFromEnv(false); err != nil || c.MinGraceSeconds != 0 || c.MinInactiveSeconds != 0 {
		t.Fatalf("explicit 0: %+v %v", c, err)
	}
	os.Unsetenv(EnvMinGraceSeconds)
	os.Unsetenv(EnvMinInactiveSeconds)
	if c, err = ConfigFromEnv(false); err != nil || c.MinGraceSeconds != DefaultMinGraceSeconds || c.MinInactiveSeconds != DefaultMinInactiveSeconds {
		t.Fatalf("unset: floors %d/%d (%v), want the module's defaults %d/%d", c.MinGraceSeconds, c.MinInactiveSeconds, err, DefaultMinGraceSeconds, DefaultMinInactiveSeconds)
	}
}

func key(id string, created time.Time) iamtypes.AccessKeyMetadata {
	return iamtypes.AccessKeyMetadata{AccessKeyId: aws.String(id), CreateDate: aws.Time(created)}
}

// Finding 6 of issue 17: a stale lock hands over only what its execution recorded creating —
// never its start time — so a key made by hand after it ended is nobody's stray.
func TestStaleLockHandsOverOnlyTheKeysItsExecutionMade(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	intent, stopped := t0.Add(time.Minute), t0.Add(2*time.Minute)
	old, made, hand := key("AKIAOLD", t0.Add(-time.Hour)), key("AKIAMADE", intent.Add(time.Second)), key("AKIAHAND", stopped.Add(time.Hour))
	keys := []iamtypes.AccessKeyMetadata{old, made, hand}
	tests := []struct {
		name    string
		held    lock
		stopped *time.Time
		want    []string
	}{
		{"recorded key", lock{ExistingAccessKeyIDs: []string{"AKIAOLD"}, NewAccessKeyID: "AKIAMADE", AcquiredAt: t0}, &stopped, []string{"AKIAMADE"}},
		{"intent, key lost, ended", lock{ExistingAccessKeyIDs: []string{"AKIAOLD"}, CreateIntentAt: &intent, AcquiredAt: t0}, &stopped, []string{"AKIAMADE"}},
		{"intent, end unknown", lock{ExistingAccessKeyIDs: []string{"AKIAOLD"}, CreateIntentAt: &intent, AcquiredAt: t0}, nil, nil},
		{"no intent", lock{ExistingAccessKeyIDs: []string{"AKIAOLD"}, AcquiredAt: t0}, &stopped, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := abandonedKeys(&tt.held, tt.stopped, keys); !slices.Equal(got, tt.want) {
				t.Errorf("abandoned %v, want %v (the key made by hand, AKIAHAND, never)", got, tt.want)
			}
		})
	}
	// This execution's own strays: only after its recorded intent.
	mine := &lock{ExistingAccessKeyIDs: []string{"AKIAOLD", "AKIAHAND"}, CreateIntentAt: &intent}
	if got := strayKeys(keys, mine, "AKIAOLD", nil); !slices.Equal(got, []string{"AKIAMADE"}) {
		t.Errorf("strays %v, want [AKIAMADE]", got)
	}
	if got := strayKeys(keys, &lock{ExistingAccessKeyIDs: []string{"AKIAOLD"}}, "AKIAOLD", nil); got != nil {
		t.Errorf("without an intent no key is a stray; got %v", got)
	}
}

// Ownership: tags name the owner; a parameter without them is its held key's user's.
func TestOwnerRecordDecidesWhoseParameterItIs(t *testing.T) {
	tests := []struct {
		name         string
		owner        Owner
		user, userID string
		keys         []string
		want         bool
	}{
		{"tags name the user", Owner{Exists: true, HeldKey: "AKIA1", User: "s3-signer", UserID: "AIDA1"}, "s3-signer", "AIDA1", nil, true},
		{"tags name another user", Owner{Exists: true, HeldKey: "AKIA1", User: "other"}, "s3-signer", "AIDA1", []string{"AKIA1"}, false},
		{"same name, user recreated", Owner{Exists: true, HeldKey: "AKIA1", User: "s3-signer", UserID: "AIDAOLD"}, "s3-signer", "AIDANEW", nil, false},
		{"no tags, holds the user's key", Owner{Exists: true, HeldKey: "AKIA1"}, "s3-signer", "", []string{"AKIA1"}, true},
		{"no tags, holds another key", Owner{Exists: true, HeldKey: "AKIA9"}, "s3-signer", "", []string{"AKIA1"}, false},
		{"not keyrotor's", Owner{Exists: true}, "s3-signer", "", []string{"AKIA1"}, false},
	}
	for _, tt := range tests {
		if got := tt.owner.OwnedBy(tt.user, tt.userID, tt.keys); got != tt.want {
			t.Errorf("%s: OwnedBy = %v, want %v", tt.name, got, tt.want)
		}
	}
}
