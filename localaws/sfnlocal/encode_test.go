package sfnlocal

import (
	"encoding/json"
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

func TestDecodeFastMatchesEncodingJSON(t *testing.T) {
	inputs := []string{
		`null`, `true`, `false`, `0`, `-0.5`, `1e3`, `1E-7`, `123456789012345678`, `""`, `"a\"b\\c\/d\n\t\r\b\f"`, `"\u00e9\u2713"`, `"\ud83d\udd11"`, `"\ud83d"`,
		`"é ✓ 🔑"`, "\"bad \xff\"", `[]`, `[1,"a",null,[true,{}]]`, `{}`, ` { "b" : 1 , "a" : { "z" : [ ] } } `, `{"a":1,"a":2}`,
	}
	for _, in := range inputs {
		got, err := decodeFast([]byte(in))
		if err != nil {
			t.Errorf("decodeFast(%s): %v", in, err)
			continue
		}
		var want any
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		if !deepEqual(got, want) {
			t.Errorf("decodeFast(%s) = %#v, encoding/json gives %#v", in, got, want)
		}
	}
	for _, bad := range []string{`{`, `[1,]`, `{"a"}`, `01`, `1.`, `"\x"`, `tru`, `1 2`, "\"a\x01\""} {
		if _, err := decodeFast([]byte(bad)); err == nil {
			t.Errorf("decodeFast(%q) accepted invalid JSON", bad)
		}
	}
}
