package sfnlocal

import (
	"math"
	"testing"
)

func TestEncodeJSONMatchesEncodingJSON(t *testing.T) {
	values := []any{
		nil, true, false, 0.0, -0.5, 42.0, 1e20, 1e21, 1.5e-7, 0.000001, 123456789012.0, math.MaxInt32 * 3.0,
		"", "plain", "quote\" backslash\\ newline\n tab\t cr\r bell\x07 <&>", "unicode é ✓ 🔑", "bad utf8 \xff!", "line sep \u2028 \u2029",
		[]any{}, []any{1.0, "a", nil, []any{true}},
		map[string]any{}, map[string]any{"b": 1.0, "a": map[string]any{"z": []any{}, "y": "x"}, "": nil},
	}
	for _, v := range values {
		fast, ok := appendJSON(nil, v)
		if !ok {
			t.Fatalf("appendJSON(%#v) failed", v)
		}
		slow, err := marshalNoEscape(v)
		if err != nil {
			t.Fatal(err)
		}
		if string(fast) != string(slow) {
			t.Errorf("appendJSON(%#v) = %s, encoding/json gives %s", v, fast, slow)
		}
	}
}
