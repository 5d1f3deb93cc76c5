package sfnlocal

import "testing"

func TestSpliceMember(t *testing.T) {
	cases := []struct{ obj, key, val, want string }{
		{`{}`, "a", `1`, `{"a":1}`},
		{`{"a":1}`, "a", `2`, `{"a":2}`},
		{`{"a":1,"b":{"c":[1,{"d":"}"}]},"e":"x,y"}`, "b", `null`, `{"a":1,"b":null,"e":"x,y"}`},
		{`{"a":1,"b":2}`, "z", `{"k":"v"}`, `{"a":1,"b":2,"z":{"k":"v"}}`},
		{`{"q\"a":1}`, `a`, `2`, `{"q\"a":1,"a":2}`},
		{`{"a":"\\"}`, "b", `3`, `{"a":"\\","b":3}`},
		{`[1]`, "a", `1`, ``},
		{`{"a":1 }`, "b", `1`, `{"a":1 ,"b":1}`}, // still valid JSON
	}
	for _, tc := range cases {
		if got := spliceMember(tc.obj, tc.key, tc.val); got != tc.want {
			t.Errorf("spliceMember(%s, %q, %s) = %s, want %s", tc.obj, tc.key, tc.val, got, tc.want)
		}
	}
}

// The spliced text and the value agree: the history's text decodes to the state's output.
func TestSplicedOutputsMatchTheirValues(t *testing.T) {
	def := `{"StartAt":"P","States":{
	  "P":{"Type":"Pass","Result":{"n":1},"ResultPath":"$.fresh","Next":"Q"},
	  "Q":{"Type":"Pass","Result":"again","ResultPath":"$.fresh","Next":"T"},
	  "T":{"Type":"Task","Resource":"` + testLambda + `","ResultPath":"$.task","Next":"U"},
	  "U":{"Type":"Task","Resource":"` + testLambda + `","ResultPath":"$.dup","End":true}}}`
	tasks := TaskInvokerFunc(func(_ ctxT, req TaskRequest) (rawT, error) {
		if req.StateName == "U" {
			return rawT(`{"k":1,"k":2}`), nil
		}
		return rawT(`{ "spaced" : true }`), nil
	})
	ex, _ := runDef(t, def, `{"z":0,"a":{"b":[1,2]}}`, tasks)
	wantStatus(t, ex, StatusSucceeded)
	want := `{"z":0,"a":{"b":[1,2]},"fresh":"again","task":{"spaced":true},"dup":{"k":2}}`
	jsonEq(t, ex.Output, want)
	for _, e := range ex.History {
		if d, ok := e.Details.(*StateExitedEventDetails); ok && d.Name == "U" {
			jsonEq(t, rawT(d.Output), want)
		}
	}
}
