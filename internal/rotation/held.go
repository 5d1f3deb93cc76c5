package rotation

import "strings"

// HeldAccessKeyID is the AccessKeyId a keyrotor parameter's Description says it holds ("" when
// keyrotor did not write it), so readers such as the audit learn the held key without the secret.
func HeldAccessKeyID(description string) string {
	id, ok := strings.CutPrefix(description, DescriptionPrefix)
	if !ok {
		return ""
	}
	return id
}
