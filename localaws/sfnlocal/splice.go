package sfnlocal

import "strings"

// plainMemberName reports whether name encodes as JSON without escapes, so that it can be
// compared with a member name in JSON text byte for byte.
func plainMemberName(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

// spliceMember returns the compact JSON object text obj with member key set to the JSON
// text val: replaced in place if present, appended if not. It returns "" if obj is not a
// compact object it can read (the caller then encodes the value instead).
func spliceMember(obj, key, val string) string {
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return ""
	}
	member := `"` + key + `":`
	if obj == "{}" {
		return "{" + member + val + "}"
	}
	i := 1
	for {
		// obj[i] starts a member name.
		if i >= len(obj) || obj[i] != '"' {
			return ""
		}
		end := i + 1
		escaped := false
		for end < len(obj) && obj[end] != '"' {
			if obj[end] == '\\' {
				escaped = true
				end++
			}
			end++
		}
		if end+1 >= len(obj) || obj[end+1] != ':' {
			return ""
		}
		name := obj[i+1 : end]
		vs := end + 2
		ve := skipValue(obj, vs)
		if ve < 0 {
			return ""
		}
		if !escaped && name == key {
			return obj[:vs] + val + obj[ve:]
		}
		switch obj[ve] {
		case '}':
			if ve != len(obj)-1 {
				return ""
			}
			var b strings.Builder
			b.Grow(len(obj) + len(member) + len(val) + 1)
			b.WriteString(obj[:ve])
			b.WriteByte(',')
			b.WriteString(member)
			b.WriteString(val)
			b.WriteByte('}')
			return b.String()
		case ',':
			i = ve + 1
		default:
			return ""
		}
	}
}

// skipValue returns the index just past the compact JSON value starting at i (the ',' or
// '}' that follows it at depth 0), or -1.
func skipValue(s string, i int) int {
	depth := 0
	for i < len(s) {
		switch c := s[i]; c {
		case '"':
			i++
			for i < len(s) && s[i] != '"' {
				if s[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(s) {
				return -1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
		case ',':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return -1
}

// splicedText returns the output's JSON text for a state whose ResultPath puts the result
// under one top-level member of its object input ("$.error") and has no OutputPath: the
// input's text with that member set, which saves encoding the whole document again. It
// returns "" when that does not apply.
func (r *runner) splicedText(st *state, raw any, rawText string, resultText func() string) string {
	if st.spliceKey == "" || rawText == "" || st.outputPath != (ioPath{}) {
		return ""
	}
	if _, ok := raw.(map[string]any); !ok {
		return ""
	}
	return spliceMember(rawText, st.spliceKey, resultText())
}
