package sfnlocal

import (
	"encoding/json"
	"testing"
)

// The fast decoder and encoder agree with encoding/json on anything (go test runs the seeds;
// go test -fuzz explores further).
func FuzzDecodeEncodeMatchEncodingJSON(f *testing.F) {
	for _, seed := range []string{`{"a":[1,2.5,-3e-9,"x\u00e9\ud83d\udd11",null,true,{}]}`, `"\u2028<>&"`, `[]`, `{"":{"":[]}}`, `1e400`, `"\xff"`, ` { } `,
		`[-0,0,7,-15,123456789012345,-123456789012345,1234567890123456,9007199254740993,12345678901234567890]`, `{"a":1,"a":2}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want any
		wantErr := json.Unmarshal(b, &want)
		got, err := decodeFast(b)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("decodeFast(%q) error %v, encoding/json %v", b, err, wantErr)
		}
		if err != nil {
			return
		}
		if !deepEqual(got, want) {
			t.Fatalf("decodeFast(%q) = %#v, encoding/json %#v", b, got, want)
		}
		fast, ok := appendJSON(nil, got)
		slow, err := marshalNoEscape(got)
		if !ok || err != nil || string(fast) != string(slow) {
			t.Fatalf("appendJSON(%#v) = %s (%v), encoding/json %s (%v)", got, fast, ok, slow, err)
		}
	})
}

// Parse never panics, whatever it is given.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{tenStates, passChoiceTask, `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"States.Format('{}', $.a[?(@.b > 1)])"},"End":true}}}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Parse(b)
	})
}
