package sfnlocal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Values are held decoded as encoding/json decodes into any: map[string]any, []any,
// float64, string, bool, nil. They are decoded once when they enter the engine and encoded
// only for history and task requests.

func decodeJSON(b []byte) (any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return map[string]any{}, nil
	}
	return decodeFast(b)
}

func encodeJSON(v any) string {
	if b, ok := appendJSON(make([]byte, 0, 256), v); ok {
		return string(b)
	}
	b, err := marshalNoEscape(v)
	if err != nil {
		return "null"
	}
	return string(b)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

func deepEqual(a, b any) bool {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for k, x := range av {
			y, ok := bv[k]
			if !ok || !deepEqual(x, y) {
				return false
			}
		}
		return true
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if !deepEqual(av[i], bv[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

func isInteger(f float64) bool { return f == math.Trunc(f) && !math.IsInf(f, 0) }

// filterExpr is a JSONPath filter: comparisons of @-paths with literals, existence tests,
// joined by && and ||.
type filterExpr struct {
	or [][]filterTerm // disjunction of conjunctions
}

type filterTerm struct {
	path  *jsonPath // relative to @, compiled as $...
	op    string    // "" for existence
	value any
}

func parseFilter(s string) (*filterExpr, error) {
	f := &filterExpr{}
	for _, disj := range splitTop(s, "||") {
		var conj []filterTerm
		for _, part := range splitTop(disj, "&&") {
			t, err := parseFilterTerm(strings.TrimSpace(part))
			if err != nil {
				return nil, err
			}
			conj = append(conj, t)
		}
		f.or = append(f.or, conj)
	}
	return f, nil
}

func splitTop(s, sep string) []string {
	var parts []string
	var inStr byte
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inStr != 0 {
			if c == inStr {
				inStr = 0
			}
			continue
		}
		if c == '\'' || c == '"' {
			inStr = c
			continue
		}
		if strings.HasPrefix(s[i:], sep) {
			parts = append(parts, s[last:i])
			i += len(sep) - 1
			last = i + 1
		}
	}
	return append(parts, s[last:])
}

func parseFilterTerm(s string) (filterTerm, error) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(s, "("), ")"))
	for _, op := range []string{"==", "!=", "<=", ">=", "<", ">"} {
		if i := strings.Index(s, op); i > 0 {
			left, right := strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+len(op):])
			p, err := filterPath(left)
			if err != nil {
				return filterTerm{}, err
			}
			var v any
			if strings.HasPrefix(right, "'") && strings.HasSuffix(right, "'") && len(right) >= 2 {
				v = right[1 : len(right)-1]
			} else if err := json.Unmarshal([]byte(right), &v); err != nil {
				return filterTerm{}, fmt.Errorf("filter value %q is not a literal", right)
			}
			return filterTerm{path: p, op: op, value: v}, nil
		}
	}
	p, err := filterPath(s)
	if err != nil {
		return filterTerm{}, err
	}
	return filterTerm{path: p}, nil
}

func filterPath(s string) (*jsonPath, error) {
	if !strings.HasPrefix(s, "@") {
		return nil, fmt.Errorf("filter operand %q must start with @", s)
	}
	p, err := compilePath("$" + s[1:])
	if err != nil {
		return nil, err
	}
	if !p.definite {
		return nil, fmt.Errorf("filter operand %q must be a simple path", s)
	}
	return p, nil
}

func (f *filterExpr) eval(node any) bool {
	for _, conj := range f.or {
		ok := true
		for _, t := range conj {
			if !t.eval(node) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (t filterTerm) eval(node any) bool {
	v, found := t.path.get(node, nil)
	if !found {
		return false
	}
	if t.op == "" {
		return true
	}
	switch t.op {
	case "==":
		return deepEqual(v, t.value)
	case "!=":
		return !deepEqual(v, t.value)
	}
	switch a := v.(type) {
	case float64:
		b, ok := t.value.(float64)
		if !ok {
			return false
		}
		return compareOrdered(a, b, t.op)
	case string:
		b, ok := t.value.(string)
		if !ok {
			return false
		}
		return compareOrdered(a, b, t.op)
	}
	return false
}

func compareOrdered[T float64 | string](a, b T, op string) bool {
	switch op {
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	}
	return false
}

func formatNumber(f float64) string {
	if isInteger(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
