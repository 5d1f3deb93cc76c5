package infracheck

import (
	"fmt"
	"testing"
)

// TestTheTreePassesTheRulesOfTflintAndTfsec is what check-terraform ran tflint and tfsec for:
// every finding of an enforced rule fails; the others are printed, with a count per rule.
func TestTheTreePassesTheRulesOfTflintAndTfsec(t *testing.T) {
	_, mods := load(t)
	if err := IAMDataError(); err != nil {
		t.Fatal(err)
	}
	rules := append(append([]Rule{}, StyleRules...), SecurityRules...)
	findings := Lint(mods, rules)
	for _, f := range Blocking(findings, rules) {
		t.Errorf("%s", f)
	}
	counts := map[Severity]int{}
	for _, f := range findings {
		counts[f.Severity]++
		t.Logf("%s", f)
	}
	// A policy the rules cannot render would pass aws-iam-no-policy-wildcards unseen.
	rendered := 0
	for _, m := range mods {
		for _, d := range policyDocuments(m) {
			if d.err != nil {
				t.Errorf("%s: %s: %v: aws-iam-no-policy-wildcards cannot check it; write it as jsonencode({...}), templatefile(...), a data aws_iam_policy_document, or a local (or map of them) holding one", d.at, addr(d.block), d.err)
				continue
			}
			rendered++
		}
	}
	fmt.Printf("infracheck lint: %d modules, %d style rules, %d security rules, %d IAM policy documents; findings: %d HIGH/CRITICAL, %d MEDIUM, %d LOW (reported), %d style\n",
		len(mods), len(StyleRules), len(SecurityRules), rendered, counts[High]+counts[Critical], counts[Medium], counts[Low], counts[Warning])
}
