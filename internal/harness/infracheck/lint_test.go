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
	for dir, m := range mods {
		for _, d := range PolicyDocumentsNotRendered(m) {
			t.Logf("%s: not rendered, not checked for wildcards: %s", dir, d)
		}
	}
	fmt.Printf("infracheck lint: %d modules, %d style rules, %d security rules; findings: %d HIGH/CRITICAL, %d MEDIUM, %d LOW (reported), %d style\n",
		len(mods), len(StyleRules), len(SecurityRules), counts[High]+counts[Critical], counts[Medium], counts[Low], counts[Warning])
}
