package sfnlocal

import (
	"strconv"
	"strings"
)

// Intrinsic functions on strings and JSON text.

var stringIntrinsics = map[string]intrinsicFunc{
	"States.Format": {params: []paramKind{stringParam}, variadic: true, run: func(c *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		tmpl, escaped := a.str(0), c.args[0].isStr
		if escaped {
			tmpl = c.args[0].rawStr
		}
		return formatTemplate(c, tmpl, escaped, a[1:])
	}},
	"States.StringSplit": {params: []paramKind{stringParam, stringParam}, run: func(_ *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		// Each character of the second argument is a delimiter, as AWS documents.
		delims := a.str(1)
		parts := strings.FieldsFunc(a.str(0), func(r rune) bool { return strings.ContainsRune(delims, r) })
		out := make([]any, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out, nil
	}},
	"States.StringToJson": {params: []paramKind{stringParam}, run: func(c *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		// AWS answers null for an empty or blank string (recorded: localstack
		// tests/aws/services/stepfunctions/v2/intrinsic_functions/test_json_manipulation.snapshot.json,
		// test_string_to_json).
		if strings.TrimSpace(a.str(0)) == "" {
			return nil, nil
		}
		v, err := decodeJSON([]byte(a.str(0)))
		if err != nil {
			return nil, intrinsicFailure(c, "%q is not JSON: %v", a.str(0), err)
		}
		return v, nil
	}},
	"States.JsonToString": {params: []paramKind{anyParam}, run: func(_ *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		return encodeJSON(a[0]), nil
	}},
	"States.JsonMerge": {params: []paramKind{objectParam, objectParam, booleanParam}, run: func(c *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		if a[2].(bool) {
			return nil, intrinsicFailure(c, "only shallow merging is supported: pass false as the third argument")
		}
		first, second := a.obj(0), a.obj(1)
		out := make(map[string]any, len(first)+len(second))
		for k, v := range first {
			out[k] = v
		}
		for k, v := range second {
			out[k] = v
		}
		return out, nil
	}},
}

func formatTemplate(c *intrinsicCall, tmpl string, escaped bool, args []any) (any, error) {
	var sb strings.Builder
	n := 0
	for i := 0; i < len(tmpl); i++ {
		ch := tmpl[i]
		if escaped && ch == '\\' && i+1 < len(tmpl) {
			i++
			sb.WriteByte(tmpl[i])
			continue
		}
		if ch == '{' && i+1 < len(tmpl) && tmpl[i+1] == '}' {
			if n >= len(args) {
				return nil, intrinsicFailure(c, "the template has more {} than the %d arguments given", len(args))
			}
			writeFormatted(&sb, args[n])
			n++
			i++
			continue
		}
		sb.WriteByte(ch)
	}
	if n != len(args) {
		return nil, intrinsicFailure(c, "the template has %d {} but %d arguments were given", n, len(args))
	}
	return sb.String(), nil
}

// writeFormatted writes a States.Format argument as AWS does: strings as they are, objects and
// arrays in Java's Map/List notation (`{Arg1=1, Arg2=[]}`, recorded: localstack
// tests/aws/services/stepfunctions/v2/intrinsic_functions/test_generic.snapshot.json,
// test_format_2). Object members come in key order (AWS keeps the input's order).
func writeFormatted(sb *strings.Builder, v any) {
	switch v := v.(type) {
	case string:
		sb.WriteString(v)
	case float64:
		sb.WriteString(formatNumber(v))
	case bool:
		sb.WriteString(strconv.FormatBool(v))
	case nil:
		sb.WriteString("null")
	case []any:
		sb.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				sb.WriteString(", ")
			}
			writeFormatted(sb, e)
		}
		sb.WriteByte(']')
	case map[string]any:
		sb.WriteByte('{')
		for i, k := range sortedKeys(v) {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(k)
			sb.WriteByte('=')
			writeFormatted(sb, v[k])
		}
		sb.WriteByte('}')
	default:
		sb.WriteString(encodeJSON(v))
	}
}
