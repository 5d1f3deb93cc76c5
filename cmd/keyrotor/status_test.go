package main

import (
	"strings"
	"testing"
	"time"
)

func TestStatusAlignsTheKeyColumns(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	s := &userStatus{
		User: "s3-signer", ARN: "arn:aws:iam::123456789012:user/s3-signer", Managed: true,
		Keys: []keyStatus{
			{ID: "AKIAOLDOLDOLDOLDOLD1", Status: "Inactive", Created: now.Add(-72 * time.Hour), LastUsed: now.Add(-30 * time.Hour), LastService: "s3"},
			{ID: "AKIANEWNEWNEWNEWNEW2", Status: "Active", Created: now.Add(-5 * time.Minute), InParameter: true},
		},
		Parameter: "/keyrotor/s3-signer", ParameterFound: true, ParameterVersion: 2, ParameterChanged: now.Add(-5 * time.Minute),
		HeldKey: "AKIANEWNEWNEWNEWNEW2",
	}
	var b strings.Builder
	printStatus(&b, s, now)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	want := []string{
		"user       arn:aws:iam::123456789012:user/s3-signer  managed (keyrotor:managed=true)",
		"keys       AKIAOLDOLDOLDOLDOLD1  Inactive  age 3d  last used 30h ago (s3)",
		"           AKIANEWNEWNEWNEWNEW2  Active    age 5m  never used  ← in parameter",
		"parameter  /keyrotor/s3-signer  version 2, changed 5m ago, holds AKIANEWNEWNEWNEWNEW2",
		"rotation   none running",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("status printed\n%s\nwant\n%s", b.String(), strings.Join(want, "\n"))
	}
}
