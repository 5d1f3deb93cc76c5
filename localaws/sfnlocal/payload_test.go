package sfnlocal

import (
	"errors"
	"testing"
)

// A Task's input text, written straight from the template, is the template's value.
func TestTemplateTextMatchesTemplateValue(t *testing.T) {
	input := `{"userName":"s3-signer","n":2,"list":[1,2,3],"nested":{"a":"<&>"}}`
	in, err := decodeFast([]byte(input))
	if err != nil {
		t.Fatal(err)
	}
	ctxObj := map[string]any{"Execution": map[string]any{"Id": "arn:x"}}
	templates := []string{
		`{"action":"begin","executionId.$":"$$.Execution.Id","rotation.$":"$"}`,
		`{"a-b":1,"a.$":"$.n","a":{"x":[1,{"y.$":"$.list[1:]"}]},"z.$":"States.Format('{}!', $.userName)"}`,
		`{"static":{"k":[true,null,"s"]},"whole.$":"$.nested"}`,
		`[{"x.$":"$.n"},"lit"]`,
	}
	for _, tmpl := range templates {
		v, err := decodeFast([]byte(tmpl))
		if err != nil {
			t.Fatal(err)
		}
		pt, err := compileTemplate(v, "Parameters")
		if err != nil {
			t.Fatal(err)
		}
		env := &intrinsicEnv{input: in, ctx: ctxObj}
		want, err := pt.eval(env, "Parameters")
		if err != nil {
			t.Fatal(err)
		}
		for _, known := range []string{"", input} {
			b, err := pt.appendText(nil, env, known, "Parameters")
			if err != nil {
				t.Fatalf("%s: %v", tmpl, err)
			}
			got, err := decodeFast(b)
			if err != nil {
				t.Fatalf("%s gave invalid JSON %s: %v", tmpl, b, err)
			}
			if !deepEqual(got, want) {
				t.Errorf("%s: text %s, value %s", tmpl, b, encodeJSON(want))
			}
		}
	}
	bad, _ := compileTemplate(map[string]any{"x.$": "$.missing"}, "Parameters")
	_, err = bad.appendText(nil, &intrinsicEnv{input: in}, input, "Parameters")
	var se *stateError
	if !errors.As(err, &se) || se.Name != ErrRuntime {
		t.Errorf("missing path gave %v, want States.Runtime", err)
	}
}
