package sfnlocal

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strconv"
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

func formatNumber(f float64) string {
	if isInteger(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
