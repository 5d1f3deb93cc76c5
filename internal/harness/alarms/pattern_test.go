package alarms

import "testing"

// The examples of AWS's pages on the syntax, restated: "Filter and pattern syntax"
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html), its JSON
// page (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/matching-terms-json-log-events.html:
// { $.eventType = "UpdateTrail" }, { $.sourceIPAddress != 123.123.* }), and the term examples
// AWS's API references give for the same syntax ("ERROR", "-ERROR", "ERROR Exception",
// "?ERROR ?Exception": https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/lightsail/aws.sdk.kotlin.services.lightsail.model/-get-container-log-request/filter-pattern.html).
func TestPatternMatchesAWSDocumentedExamples(t *testing.T) {
	const trail = `{"eventType": "UpdateTrail", "sourceIPAddress": "111.111.111.111", "arrayKey": ["value", "another value"],
		"objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}], "SomeObject": null, "ThisFlag": true,
		"cluster.name": "c", "latency": 1500, "component": "HttpServer", "error": false}`
	tests := []struct {
		pattern, event string
		want           bool
	}{
		{`{ $.eventType = "UpdateTrail" }`, trail, true},
		{`{ $.eventType = "CreateTrail" }`, trail, false},
		{`{ $.eventType = "Update" }`, trail, false}, // exact, not a prefix
		{`{ $.eventType = Update* }`, trail, true},
		{`{ $.sourceIPAddress != 123.123.* }`, trail, true},
		{`{ $.sourceIPAddress != 111.111.* }`, trail, false},
		{`{ $.arrayKey[0] = "value" }`, trail, true},
		{`{ $.arrayKey[1] = "value" }`, trail, false},
		{`{ $.objectList[1].id = 2 }`, trail, true},
		{`{ $.objectList[0].id > 1 }`, trail, false},
		{`{ $.SomeObject IS NULL }`, trail, true},
		{`{ $.SomeOtherObject NOT EXISTS }`, trail, true},
		{`{ $.SomeObject EXISTS }`, trail, true},
		{`{ $.ThisFlag IS TRUE }`, trail, true},
		{`{ $.ThisFlag IS FALSE }`, trail, false},
		{`{ $.['cluster.name'] = "c" }`, trail, true},
		{`{ ($.eventType = "UpdateTrail") && ($.sourceIPAddress != 123.123.*) }`, trail, true},
		{`{ ($.eventType = "CreateTrail") || ($.objectList[0].name = "a") }`, trail, true},
		// CDK's FilterPattern.all(stringValue component, any(booleanValue error, numberValue latency > 1000)).
		{`{ ($.component = "HttpServer") && (($.error IS TRUE) || ($.latency > 1000)) }`, trail, true},
		{`{ ($.component = "HttpServer") && (($.error IS TRUE) || ($.latency > 2000)) }`, trail, false},
		{`{ $.eventType = "UpdateTrail" }`, `eventType UpdateTrail`, false}, // not JSON
		{`ERROR`, `2024-01-01 ERROR something`, true},
		{`ERROR`, `2024-01-01 error something`, false}, // case-sensitive
		{`-ERROR`, `all fine`, true},
		{`-ERROR`, `an ERROR here`, false},
		{`ERROR Exception`, `ERROR without the other`, false},
		{`ERROR Exception`, `ERROR and an Exception`, true},
		{`?ERROR ?Exception`, `an Exception`, true},
		{`?ERROR ?Exception`, `all fine`, false},
		{`"step failed"`, `{"msg":"step failed"}`, true},
		{``, `anything`, true},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pattern)
		if err != nil {
			t.Fatalf("parse %q: %v", tt.pattern, err)
		}
		if got := p.Match(tt.event); got != tt.want {
			t.Errorf("%s on %.60s: matched %v, want %v", tt.pattern, tt.event, got, tt.want)
		}
	}
}

func TestPatternRefusesMalformedJSONPatterns(t *testing.T) {
	for _, bad := range []string{`{ $.a = "x" `, `{ $.a "x" }`, `{ a = "x" }`, `{ ($.a = 1 }`, `{ $.a = "x }`} {
		if _, err := ParsePattern(bad); err == nil {
			t.Errorf("%q parsed; want an error", bad)
		}
	}
}
