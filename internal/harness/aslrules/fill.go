package aslrules

import "regexp"

var placeholder = regexp.MustCompile(`\$\{[a-z_]+\}`)

// FillPlaceholders replaces Terraform templatefile placeholders as scripts/lint-asl.sh does:
// `${..._function_arn}` with a Lambda function ARN, `${..._state_machine_arn}` with a state
// machine ARN, so each Resource keeps its kind.
func FillPlaceholders(def []byte) []byte {
	return placeholder.ReplaceAllFunc(def, func(p []byte) []byte {
		if regexp.MustCompile(`state_machine_arn\}$`).Match(p) {
			return []byte("arn:aws:states:us-east-1:123456789012:stateMachine:placeholder")
		}
		return []byte("arn:aws:lambda:us-east-1:123456789012:function:placeholder")
	})
}
