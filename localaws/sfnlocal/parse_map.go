package sfnlocal

import (
	"fmt"
	"strings"
)

// Resources of a Distributed Map's ItemReader and ResultWriter the engine serves: a JSON
// array in one S3 object, and results written to S3.
// https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemreader.html
// https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html
const (
	ResourceS3GetObject = "arn:aws:states:::s3:getObject"
	ResourceS3PutObject = "arn:aws:states:::s3:putObject"
)

// distributedOnly are the Map fields AWS documents for Distributed mode only; on an INLINE
// Map CreateStateMachine refuses them
// (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html,
// "Distributed Map state fields").
var distributedOnly = []string{"ToleratedFailurePercentage", "ToleratedFailurePercentagePath",
	"ToleratedFailureCount", "ToleratedFailureCountPath", "ItemReader", "ItemBatcher", "ResultWriter", "Label"}

// itemReaderSpec is an ItemReader reading a JSON array from one S3 object.
type itemReaderSpec struct {
	params   *payloadTemplate // Bucket, Key
	maxItems int              // 0: all
}

// mapMode reads ItemProcessor.ProcessorConfig and the fields that only a Distributed Map
// has.
func (p *parser) mapMode(st *state, statePtr, procField string, proc, m map[string]any) error {
	perr := func(field, format string, a ...any) error {
		return &ParseError{State: st.name, Field: field, Msg: fmt.Sprintf(format, a...)}
	}
	mode := "INLINE"
	if raw, ok := proc["ProcessorConfig"]; ok {
		pc, ok := raw.(map[string]any)
		if !ok {
			return perr(procField+".ProcessorConfig", "must be an object with Mode (INLINE or DISTRIBUTED) and, for DISTRIBUTED, ExecutionType")
		}
		if err := p.allowed(st.name, pc, procField+".ProcessorConfig", "Mode", "ExecutionType"); err != nil {
			return err
		}
		if v, ok := pc["Mode"]; ok {
			s, _ := v.(string)
			if s != "INLINE" && s != "DISTRIBUTED" {
				return &ParseError{State: st.name, Field: procField + ".ProcessorConfig.Mode", Pointer: statePtr + "/" + procField + "/ProcessorConfig/Mode",
					Msg: "The field 'Mode' should have one of these values: [INLINE, DISTRIBUTED]"}
			}
			mode = s
		}
		if et, ok := pc["ExecutionType"]; ok {
			if mode != "DISTRIBUTED" {
				return &ParseError{State: st.name, Field: procField + ".ProcessorConfig.ExecutionType", Pointer: statePtr + "/" + procField + "/ProcessorConfig",
					Msg: "The field 'ExecutionType' is supported only when Mode is DISTRIBUTED"}
			}
			if et != "STANDARD" {
				return perr(procField+".ProcessorConfig.ExecutionType", "%v is not supported by the local engine (only STANDARD child executions)", et)
			}
		}
	}
	if mode == "INLINE" {
		for _, f := range distributedOnly {
			if _, ok := m[f]; ok {
				return &ParseError{State: st.name, Field: f, Pointer: statePtr,
					Msg: fmt.Sprintf("The field '%s' is supported only by a Map state in DISTRIBUTED mode; set ItemProcessor.ProcessorConfig.Mode to DISTRIBUTED or remove it", f)}
			}
		}
		return nil
	}
	st.distributed = true
	if _, ok := m["ItemBatcher"]; ok {
		return perr("ItemBatcher", "is not supported by the local engine (each item runs as its own child execution)")
	}
	if v, ok := m["Label"]; ok {
		s, _ := v.(string)
		if s == "" || len(s) > 40 || strings.ContainsAny(s, " \t\n?*<>{}[]\"#%\\^|~`$&,;:/") {
			// AWS refuses a Label with a blank, wildcard, bracket or special character
			// (recorded: localstack tests/aws/services/stepfunctions/v2/test_sfn_api_map_run.snapshot.json,
			// test_map_state_label_invalid_char_fail) and longer than 40 characters.
			return &ParseError{State: st.name, Field: "Label", Pointer: statePtr + "/Label",
				Msg: fmt.Sprintf("Label contains invalid character or is longer than 40 characters: %q", s)}
		}
		st.label = s
	}
	if raw, ok := m["ItemReader"]; ok {
		ir, ok := raw.(map[string]any)
		if !ok {
			return perr("ItemReader", "must be an object with Resource and Parameters")
		}
		if err := p.allowed(st.name, ir, "ItemReader", "Resource", "Parameters", "ReaderConfig"); err != nil {
			return err
		}
		if ir["Resource"] != ResourceS3GetObject {
			return perr("ItemReader.Resource", "%v is not supported by the local engine (only %s reading a JSON array)", ir["Resource"], ResourceS3GetObject)
		}
		spec := &itemReaderSpec{}
		if rc, ok := ir["ReaderConfig"].(map[string]any); ok {
			if it, ok := rc["InputType"]; ok && it != "JSON" {
				return perr("ItemReader.ReaderConfig.InputType", "%v is not supported by the local engine (only JSON)", it)
			}
			if v, ok := rc["MaxItems"]; ok {
				n, err := nonNegativeInt(v)
				if err != nil {
					return perr("ItemReader.ReaderConfig.MaxItems", "%v", err)
				}
				spec.maxItems = n
			}
		}
		params, ok := ir["Parameters"].(map[string]any)
		if !ok {
			return perr("ItemReader.Parameters", "is missing (an object with Bucket and Key)")
		}
		t, err := compileTemplate(params, "ItemReader.Parameters")
		if err != nil {
			return perr("ItemReader.Parameters", "%v", err)
		}
		spec.params = t
		st.itemReader = spec
	}
	if raw, ok := m["ResultWriter"]; ok {
		rw, ok := raw.(map[string]any)
		if !ok {
			return perr("ResultWriter", "must be an object with Resource and Parameters")
		}
		if err := p.allowed(st.name, rw, "ResultWriter", "Resource", "Parameters"); err != nil {
			return err
		}
		if rw["Resource"] != ResourceS3PutObject {
			return perr("ResultWriter.Resource", "%v is not supported by the local engine (only %s)", rw["Resource"], ResourceS3PutObject)
		}
		params, ok := rw["Parameters"].(map[string]any)
		if !ok {
			return perr("ResultWriter.Parameters", "is missing (an object with Bucket and Prefix)")
		}
		t, err := compileTemplate(params, "ResultWriter.Parameters")
		if err != nil {
			return perr("ResultWriter.Parameters", "%v", err)
		}
		st.resultWriter = t
	}
	return nil
}
