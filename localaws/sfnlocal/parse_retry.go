package sfnlocal

import (
	"errors"
	"fmt"
	"math"
)

// Retry and Catch, which Task, Parallel and Map states share.

type retrier struct {
	errorEquals []string
	interval    float64 // seconds
	maxAttempts int
	backoffRate float64
	maxDelay    float64 // seconds, 0: none
	jitterFull  bool
}

type catcher struct {
	errorEquals []string
	next        string
	resultPath  resultPathSpec
}

func (p *parser) retriers(name string, m map[string]any) ([]*retrier, error) {
	raw, err := p.objectList(name, m, "Retry", "retriers", "ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy", "Comment")
	if err != nil {
		return nil, err
	}
	var out []*retrier
	for i, rm := range raw {
		field := fmt.Sprintf("Retry[%d]", i)
		perr := func(f, format string, a ...any) error {
			return &ParseError{State: name, Field: field + "." + f, Msg: fmt.Sprintf(format, a...)}
		}
		errs, err := errorEquals(rm["ErrorEquals"], i == len(raw)-1)
		if err != nil {
			return nil, perr("ErrorEquals", "%v", err)
		}
		rt := &retrier{errorEquals: errs, interval: 1, maxAttempts: 3, backoffRate: 2}
		// The integer fields: each present one must parse, then sets its part of rt.
		for _, f := range []struct {
			name  string
			parse func(any) (int, error)
			set   func(n int)
		}{
			{"IntervalSeconds", positiveInt, func(n int) { rt.interval = float64(n) }},
			{"MaxAttempts", nonNegativeInt, func(n int) { rt.maxAttempts = n }},
			{"MaxDelaySeconds", positiveInt, func(n int) { rt.maxDelay = float64(n) }},
		} {
			if v, ok := rm[f.name]; ok {
				n, err := f.parse(v)
				if err != nil {
					return nil, perr(f.name, "%v", err)
				}
				f.set(n)
			}
		}
		if v, ok := rm["BackoffRate"]; ok {
			f, ok := v.(float64)
			if !ok || f < 1 || math.IsInf(f, 0) {
				return nil, perr("BackoffRate", "must be a number of at least 1.0, got %s", encodeJSON(v))
			}
			rt.backoffRate = f
		}
		if v, ok := rm["JitterStrategy"]; ok {
			switch v {
			case "FULL":
				rt.jitterFull = true
			case "NONE":
			default:
				return nil, perr("JitterStrategy", "must be FULL or NONE, got %s", encodeJSON(v))
			}
		}
		out = append(out, rt)
	}
	return out, nil
}

// objectList reads field (Retry, Catch) of state name: absent, or an array of objects (what
// names them in errors) with only the allowed members.
func (p *parser) objectList(name string, m map[string]any, field, what string, allowed ...string) ([]map[string]any, error) {
	v, ok := m[field]
	if !ok {
		return nil, nil
	}
	raw, ok := v.([]any)
	if !ok {
		return nil, &ParseError{State: name, Field: field, Msg: "must be an array of " + what}
	}
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		at := fmt.Sprintf("%s[%d]", field, i)
		if out[i], ok = r.(map[string]any); !ok {
			return nil, &ParseError{State: name, Field: at, Msg: "must be an object"}
		}
		if err := p.allowed(name, out[i], at, allowed...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (p *parser) catchers(name string, m map[string]any) ([]*catcher, error) {
	raw, err := p.objectList(name, m, "Catch", "catchers", "ErrorEquals", "Next", "ResultPath", "Comment")
	if err != nil {
		return nil, err
	}
	var out []*catcher
	for i, cm := range raw {
		field := fmt.Sprintf("Catch[%d]", i)
		errs, err := errorEquals(cm["ErrorEquals"], i == len(raw)-1)
		if err != nil {
			return nil, &ParseError{State: name, Field: field + ".ErrorEquals", Msg: err.Error()}
		}
		c := &catcher{errorEquals: errs}
		next, ok := cm["Next"].(string)
		if !ok || next == "" {
			return nil, &ParseError{State: name, Field: field + ".Next", Msg: "is missing (the state to go to)"}
		}
		c.next = next
		if v, ok := cm["ResultPath"]; ok {
			if c.resultPath, err = resultPathOf(v); err != nil {
				return nil, &ParseError{State: name, Field: field + ".ResultPath", Msg: err.Error()}
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func errorEquals(v any, last bool) ([]string, error) {
	raw, ok := v.([]any)
	if !ok || len(raw) == 0 {
		return nil, errors.New("is missing or empty (a non-empty array of error names)")
	}
	var out []string
	for _, e := range raw {
		s, ok := e.(string)
		if !ok || s == "" {
			return nil, fmt.Errorf("%s is not an error name", encodeJSON(e))
		}
		out = append(out, s)
	}
	for _, s := range out {
		if s == ErrAll {
			if len(out) != 1 {
				return nil, errors.New("States.ALL must appear alone in its ErrorEquals")
			}
			if !last {
				return nil, errors.New("States.ALL must be in the last retrier/catcher")
			}
		}
	}
	return out, nil
}
