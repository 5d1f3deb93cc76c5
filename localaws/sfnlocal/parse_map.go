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

// mapState reads a Map state: where its items come from, how each is processed (inline, or
// as a child execution when Distributed), and how many may fail.
func (p *parser) mapState(st *state, m map[string]any, statePtr string) error {
	var err error
	if _, ok := m["ItemsPath"]; ok {
		if st.itemsPath, err = p.path(st.name, m, "ItemsPath"); err != nil {
			return err
		}
	}
	if err := p.exclusive(st.name, m, "ItemSelector", "Parameters"); err != nil {
		return err
	}
	// Parameters on a Map is the legacy name of ItemSelector.
	if v, ok := m["ItemSelector"]; ok {
		if st.itemSelector, err = compileTemplate(v, "ItemSelector"); err != nil {
			return st.fieldError("ItemSelector", "%v", err)
		}
	} else if st.parameters != nil {
		st.itemSelector, st.parameters = st.parameters, nil
	}
	if err := p.exclusive(st.name, m, "ItemProcessor", "Iterator"); err != nil {
		return err
	}
	procField := "ItemProcessor"
	proc, ok := m["ItemProcessor"].(map[string]any)
	if !ok {
		procField = "Iterator"
		proc, ok = m["Iterator"].(map[string]any)
	}
	if !ok {
		return st.fieldError("ItemProcessor", "is missing (an object with StartAt and States)")
	}
	if err := p.allowed(st.name, proc, procField, "StartAt", "States", "Comment", "ProcessorConfig"); err != nil {
		return err
	}
	if err := p.mapMode(st, statePtr, procField, proc, m); err != nil {
		return err
	}
	p.ptr = statePtr + "/" + procField
	if st.distributed {
		// Each item runs as a child execution of the ItemProcessor as a state machine of
		// its own, whose $$ is its own execution's.
		outerCtx := p.usesContext
		p.usesContext = false
		sc, err := p.scope(proc, st.name)
		if err != nil {
			return fmt.Errorf("in %s of %q: %w", procField, st.name, err)
		}
		def := map[string]any{"StartAt": proc["StartAt"], "States": proc["States"]}
		st.child = &StateMachine{root: sc, StartAt: sc.startAt, definition: []byte(encodeJSON(def)), usesContext: p.usesContext}
		st.processor = sc
		p.usesContext = outerCtx
	} else if st.processor, err = p.scope(proc, st.name); err != nil {
		return fmt.Errorf("in %s of %q: %w", procField, st.name, err)
	}
	if st.maxConcurrency, st.maxConcurrencyPath, err = p.intOrPath(st.name, m, "MaxConcurrency", 0); err != nil {
		return err
	}
	if err := p.exclusive(st.name, m, "ToleratedFailurePercentage", "ToleratedFailurePercentagePath"); err != nil {
		return err
	}
	if v, ok := m["ToleratedFailurePercentage"]; ok {
		f, ok := v.(float64)
		if !ok || f < 0 || f > 100 {
			return st.fieldError("ToleratedFailurePercentage", "must be a number from 0 to 100")
		}
		st.toleratedPct, st.hasToleratedPct = f, true
	}
	if _, ok := m["ToleratedFailurePercentagePath"]; ok {
		if st.toleratedPctPath, err = p.path(st.name, m, "ToleratedFailurePercentagePath"); err != nil {
			return err
		}
	}
	if st.toleratedCount, st.toleratedCountPath, err = p.intOrPath(st.name, m, "ToleratedFailureCount", 0); err != nil {
		return err
	}
	_, st.hasToleratedCount = m["ToleratedFailureCount"]
	return nil
}

// mapMode reads ItemProcessor.ProcessorConfig and the fields that only a Distributed Map
// has.
func (p *parser) mapMode(st *state, statePtr, procField string, proc, m map[string]any) error {
	mode := "INLINE"
	if raw, ok := proc["ProcessorConfig"]; ok {
		pc, ok := raw.(map[string]any)
		if !ok {
			return st.fieldError(procField+".ProcessorConfig", "must be an object with Mode (INLINE or DISTRIBUTED) and, for DISTRIBUTED, ExecutionType")
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
				return st.fieldError(procField+".ProcessorConfig.ExecutionType", "%v is not supported by the local engine (only STANDARD child executions)", et)
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
		return st.fieldError("ItemBatcher", "is not supported by the local engine (each item runs as its own child execution)")
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
			return st.fieldError("ItemReader", "must be an object with Resource and Parameters")
		}
		if err := p.allowed(st.name, ir, "ItemReader", "Resource", "Parameters", "ReaderConfig"); err != nil {
			return err
		}
		if ir["Resource"] != ResourceS3GetObject {
			return st.fieldError("ItemReader.Resource", "%v is not supported by the local engine (only %s reading a JSON array)", ir["Resource"], ResourceS3GetObject)
		}
		spec := &itemReaderSpec{}
		if rc, ok := ir["ReaderConfig"].(map[string]any); ok {
			if it, ok := rc["InputType"]; ok && it != "JSON" {
				return st.fieldError("ItemReader.ReaderConfig.InputType", "%v is not supported by the local engine (only JSON)", it)
			}
			if v, ok := rc["MaxItems"]; ok {
				n, err := nonNegativeInt(v)
				if err != nil {
					return st.fieldError("ItemReader.ReaderConfig.MaxItems", "%v", err)
				}
				spec.maxItems = n
			}
		}
		t, err := st.s3Parameters(ir, "ItemReader", "Key")
		if err != nil {
			return err
		}
		spec.params = t
		st.itemReader = spec
	}
	if raw, ok := m["ResultWriter"]; ok {
		rw, ok := raw.(map[string]any)
		if !ok {
			return st.fieldError("ResultWriter", "must be an object with Resource and Parameters")
		}
		if err := p.allowed(st.name, rw, "ResultWriter", "Resource", "Parameters"); err != nil {
			return err
		}
		if rw["Resource"] != ResourceS3PutObject {
			return st.fieldError("ResultWriter.Resource", "%v is not supported by the local engine (only %s)", rw["Resource"], ResourceS3PutObject)
		}
		t, err := st.s3Parameters(rw, "ResultWriter", "Prefix")
		if err != nil {
			return err
		}
		st.resultWriter = t
	}
	return nil
}

// s3Parameters compiles the Parameters object of the ItemReader or ResultWriter field f, which
// names an S3 object or prefix: Bucket and key (Key or Prefix).
func (st *state) s3Parameters(f map[string]any, field, key string) (*payloadTemplate, error) {
	where := field + ".Parameters"
	params, ok := f["Parameters"].(map[string]any)
	if !ok {
		return nil, st.fieldError(where, "is missing (an object with Bucket and %s)", key)
	}
	t, err := compileTemplate(params, where)
	if err != nil {
		return nil, st.fieldError(where, "%v", err)
	}
	return t, nil
}
