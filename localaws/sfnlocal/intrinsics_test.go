package sfnlocal

import (
	"regexp"
	"strings"
	"testing"
)

// intrinsicDef evaluates expr as Parameters field "r" of a Pass state.
func intrinsicDef(expr string) string {
	return pass(`"Parameters":{"r.$":` + mustJSON(expr) + `}`)
}

func TestIntrinsicFunctions(t *testing.T) {
	input := `{"name":"World","n":3,"arr":[1,2,2,{"a":1},{"a":1}],"obj":{"a":1,"b":{"x":1}},"obj2":{"b":{"y":2},"c":3},
	  "json":"{\"k\":[1,true,null]}","csv":"a,b;c","text":"hello","b64":"aGVsbG8=","tmpl":"Hi {}!"}`
	cases := []struct {
		name, expr, want string
	}{
		{"Format with path and literals", `States.Format('Hello, {}! n={} ok={} nil={}', $.name, $.n, true, null)`, `"Hello, World! n=3 ok=true nil=null"`},
		{"Format escapes braces and quotes", `States.Format('\{\} it\'s {}', $.name)`, `"{} it's World"`},
		{"Format template from a path", `States.Format($.tmpl, $.name)`, `"Hi World!"`},
		{"Format backslash escape", `States.Format('a\\b {}', 1)`, `"a\\b 1"`},
		// Objects and arrays in Java's notation, as AWS was recorded formatting them (localstack
		// tests/aws/services/stepfunctions/v2/intrinsic_functions/test_generic.snapshot.json).
		{"Format object and array args", `States.Format('{} {}', $.obj, $.arr)`, `"{a=1, b={x=1}} [1, 2, 2, {a=1}, {a=1}]"`},
		{"StringToJson", `States.StringToJson($.json)`, `{"k":[1,true,null]}`},
		{"JsonToString", `States.JsonToString($.obj)`, `"{\"a\":1,\"b\":{\"x\":1}}"`},
		{"Array", `States.Array('a', 1, $.n, true, null)`, `["a",1,3,true,null]`},
		{"Array empty", `States.Array()`, `[]`},
		{"ArrayPartition", `States.ArrayPartition($.arr, 2)`, `[[1,2],[2,{"a":1}],[{"a":1}]]`},
		{"ArrayContains object", `States.ArrayContains($.arr, $.obj.b)`, `false`},
		{"ArrayContains number", `States.ArrayContains($.arr, 2)`, `true`},
		{"ArrayRange up", `States.ArrayRange(1, 9, 2)`, `[1,3,5,7,9]`},
		{"ArrayRange down", `States.ArrayRange(5, 1, -2)`, `[5,3,1]`},
		{"ArrayRange empty when step points away", `States.ArrayRange(1, 5, -1)`, `[]`},
		{"ArrayGetItem", `States.ArrayGetItem($.arr, 3)`, `{"a":1}`},
		{"ArrayLength", `States.ArrayLength($.arr)`, `5`},
		{"ArrayUnique keeps first occurrences", `States.ArrayUnique($.arr)`, `[1,2,{"a":1}]`},
		{"Base64Encode", `States.Base64Encode($.text)`, `"aGVsbG8="`},
		{"Base64Decode", `States.Base64Decode($.b64)`, `"hello"`},
		{"Hash MD5", `States.Hash($.text, 'MD5')`, `"5d41402abc4b2a76b9719d911017c592"`},
		{"Hash SHA-1", `States.Hash($.text, 'SHA-1')`, `"aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"`},
		{"Hash SHA-256", `States.Hash($.text, 'SHA-256')`, `"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"`},
		{"Hash SHA-384", `States.Hash('hello', 'SHA-384')`, `"59e1748777448c69de6b800d7a33bbfb9ff1b463e44354c3553bcdb9c666fa90125a3c79f90397bdf5f6a13de828684f"`},
		{"Hash SHA-512", `States.Hash('hello', 'SHA-512')`, `"9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043"`},
		{"JsonMerge is shallow", `States.JsonMerge($.obj, $.obj2, false)`, `{"a":1,"b":{"y":2},"c":3}`},
		{"MathRandom with seed is deterministic", `States.ArrayContains(States.ArrayRange(10, 19, 1), States.MathRandom(10, 20, 7))`, `true`},
		{"MathAdd", `States.MathAdd($.n, -5)`, `-2`},
		{"StringSplit on each delimiter character", `States.StringSplit($.csv, ',;')`, `["a","b","c"]`},
		{"nested calls", `States.ArrayLength(States.StringSplit(States.Format('{},{}', $.name, $.text), ','))`, `2`},
		{"context path argument", `States.Format('{}/{}', $$.Execution.Name, $$.State.Name)`, `"exec-1/P"`},
		{"string with comma and paren", `States.Format('a, (b) {}', 'c')`, `"a, (b) c"`},
		{"bracket path argument", `States.ArrayGetItem($['arr'], 0)`, `1`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex, _ := runDef(t, intrinsicDef(tc.expr), input, nil)
			wantStatus(t, ex, StatusSucceeded)
			jsonEq(t, ex.Output, `{"r":`+tc.want+`}`)
		})
	}
}

func TestIntrinsicUUIDAndRandomShapes(t *testing.T) {
	ex, _ := runDef(t, pass(`"Parameters":{"u.$":"States.UUID()","r.$":"States.MathRandom(1, 3)"}`), `{}`, nil)
	wantStatus(t, ex, StatusSucceeded)
	out := string(ex.Output)
	if !regexp.MustCompile(`"u":"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"`).MatchString(out) {
		t.Errorf("UUID is not a v4 UUID: %s", out)
	}
	if !strings.Contains(out, `"r":1`) && !strings.Contains(out, `"r":2`) {
		t.Errorf("MathRandom(1, 3) = %s, want 1 or 2", out)
	}
}

func TestIntrinsicFailuresOnBadArguments(t *testing.T) {
	cases := []struct {
		name, expr, cause string
	}{
		{"Format placeholder count", `States.Format('{} {}', 1)`, "more {}"},
		{"Format too many args", `States.Format('{}', 1, 2)`, "1 {} but 2 arguments"},
		{"StringToJson invalid", `States.StringToJson('{nope')`, "is not JSON"},
		{"ArrayPartition zero", `States.ArrayPartition($.arr, 0)`, "positive integer"},
		{"ArrayGetItem out of range", `States.ArrayGetItem($.arr, 9)`, "outside the array"},
		{"ArrayLength of string", `States.ArrayLength('x')`, "must be an array"},
		{"ArrayRange too long", `States.ArrayRange(1, 2000, 1)`, "more than 1000"},
		{"ArrayRange zero step", `States.ArrayRange(1, 2, 0)`, "must not be 0"},
		{"Hash unknown algorithm", `States.Hash('x', 'CRC32')`, "not one of"},
		{"Base64Decode invalid", `States.Base64Decode('***')`, "not base64"},
		{"JsonMerge deep", `States.JsonMerge($.obj, $.obj, true)`, "only shallow"},
		{"JsonMerge non-object", `States.JsonMerge($.arr, $.obj, false)`, "argument 1 must be an object, got an array"},
		{"JsonMerge non-boolean", `States.JsonMerge($.obj, $.obj, 1)`, "argument 3 must be a boolean, got a number"},
		{"StringSplit non-string", `States.StringSplit($.arr, ',')`, "argument 1 must be a string, got an array"},
		{"Hash input too long", `States.Hash(States.Format('{}{}{}', States.JsonToString(States.ArrayRange(1000, 1999, 1)), 'x', States.JsonToString(States.ArrayRange(1000, 1999, 1))), 'MD5')`, "more than 10000 characters"},
		{"MathAdd non-integer", `States.MathAdd(1.5, 1)`, "must be an integer"},
		{"MathRandom empty range", `States.MathRandom(5, 5)`, "must be greater"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex, _ := runDef(t, intrinsicDef(tc.expr), `{"obj":{"a":1},"arr":[1,2]}`, nil)
			wantFailed(t, ex, ErrIntrinsicFailure, tc.cause)
		})
	}
}

func TestIntrinsicFailureIsCatchable(t *testing.T) {
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + testLambda + `","Parameters":{"x.$":"States.StringToJson('nope')"},
	  "Catch":[{"ErrorEquals":["States.IntrinsicFailure"],"ResultPath":"$.err","Next":"S"}],"End":true},"S":{"Type":"Succeed"}}}`
	ex, _ := runDef(t, def, `{}`, echo)
	wantStatus(t, ex, StatusSucceeded)
	if !strings.Contains(string(ex.Output), `"Error":"States.IntrinsicFailure"`) {
		t.Errorf("output %s lacks the caught error", ex.Output)
	}
}
