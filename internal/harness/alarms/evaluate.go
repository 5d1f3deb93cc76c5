package alarms

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Datapoint is one value published to a metric at a time.
type Datapoint struct {
	Metric MetricID
	Time   time.Time
	Value  float64
}

// LogLine is one log event of a log group.
type LogLine struct {
	LogGroup string
	Time     time.Time
	Message  string
}

// FilterLogs turns log lines into the datapoints the metric filters publish.
func (inf *Infra) FilterLogs(lines []LogLine) []Datapoint {
	var out []Datapoint
	for _, l := range lines {
		for _, f := range inf.Filters {
			if f.LogGroup == l.LogGroup && f.Pattern.Match(l.Message) {
				out = append(out, Datapoint{Metric: f.Metric, Time: l.Time, Value: f.Value})
			}
		}
	}
	return out
}

// Firing evaluates every alarm over the datapoints, as CloudWatch does with evaluation_periods
// 1 (and datapoints_to_alarm defaulting to it): each period, aligned to the epoch, holds the Sum of
// each metric; the returned query's value is compared with the threshold; a period without
// data is treated as treat_missing_data says. It returns the names of the alarms that reach ALARM.
// Alarms on metric math: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Create-alarm-on-metric-math-expression.html;
// evaluation: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html.
func (inf *Infra) Firing(points []Datapoint) ([]string, error) {
	var firing []string
	for _, a := range inf.Alarms {
		if a.EvaluationPeriods != 1 {
			return nil, fmt.Errorf("alarm %s: evaluation_periods %d: only 1 is evaluated here", a.Name, a.EvaluationPeriods)
		}
		fired, err := a.fires(points)
		if err != nil {
			return nil, fmt.Errorf("alarm %s: %w", a.Name, err)
		}
		if fired {
			firing = append(firing, a.Name)
		}
	}
	return firing, nil
}

func (a Alarm) fires(points []Datapoint) (bool, error) {
	period := 0
	for _, q := range a.Queries {
		if q.Expression == "" {
			if period != 0 && q.Period != period {
				return false, fmt.Errorf("queries of different periods")
			}
			period = q.Period
		}
	}
	if period <= 0 {
		return false, fmt.Errorf("no period")
	}
	buckets := map[int64]bool{}
	for _, p := range points {
		buckets[p.Time.Unix()/int64(period)] = true
	}
	for b := range buckets {
		values := map[string]*float64{}
		for _, q := range a.Queries {
			if q.Expression != "" {
				continue
			}
			var sum *float64
			for _, p := range points {
				if p.Metric == q.Metric && p.Time.Unix()/int64(period) == b {
					if sum == nil {
						sum = new(float64)
					}
					*sum += p.Value
				}
			}
			values[q.ID] = sum
		}
		var result *float64
		returned := 0
		for _, q := range a.Queries {
			if !q.ReturnData {
				continue
			}
			returned++
			if q.Expression == "" {
				result = values[q.ID]
				continue
			}
			v, err := EvalMath(q.Expression, values)
			if err != nil {
				return false, err
			}
			result = v
		}
		if returned != 1 {
			return false, fmt.Errorf("%d queries return data, want 1", returned)
		}
		if result == nil {
			if a.TreatMissing == "breaching" {
				return true, nil
			}
			continue
		}
		if compare(a.Comparison, *result, a.Threshold) {
			return true, nil
		}
	}
	return false, nil
}

func compare(op string, v, threshold float64) bool {
	switch op {
	case "GreaterThanOrEqualToThreshold":
		return v >= threshold
	case "GreaterThanThreshold":
		return v > threshold
	case "LessThanThreshold":
		return v < threshold
	case "LessThanOrEqualToThreshold":
		return v <= threshold
	}
	return false
}

// EvalMath evaluates the metric math the alarms use: + - * /, parentheses, numbers, query ids
// and FILL(id, value). A query without data is missing (nil), and so is arithmetic on it,
// unless FILL gives it a value (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html).
func EvalMath(expr string, values map[string]*float64) (*float64, error) {
	p := &mathParser{src: expr, values: values}
	v, err := p.sum()
	if err != nil {
		return nil, fmt.Errorf("metric math %q: %w", expr, err)
	}
	if p.skip(); p.pos != len(p.src) {
		return nil, fmt.Errorf("metric math %q: unexpected %q", expr, p.src[p.pos:])
	}
	return v, nil
}

type mathParser struct {
	src    string
	pos    int
	values map[string]*float64
}

func (p *mathParser) skip() {
	for p.pos < len(p.src) && p.src[p.pos] == ' ' {
		p.pos++
	}
}

func (p *mathParser) peek() byte {
	p.skip()
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func arith(op byte, l, r *float64) *float64 {
	if l == nil || r == nil {
		return nil
	}
	var v float64
	switch op {
	case '+':
		v = *l + *r
	case '-':
		v = *l - *r
	case '*':
		v = *l * *r
	case '/':
		v = *l / *r
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil
		}
	}
	return &v
}

// sum and product are the two precedence levels of metric math's arithmetic, each a
// left-associative chain of the level below (leftChain).
func (p *mathParser) sum() (*float64, error) { return leftChain(p.product, p.operator("+-"), arith) }

func (p *mathParser) product() (*float64, error) { return leftChain(p.atom, p.operator("*/"), arith) }

// operator consumes the next byte if it is one of ops.
func (p *mathParser) operator(ops string) func() (byte, bool) {
	return func() (byte, bool) {
		c := p.peek()
		if c == 0 || !strings.ContainsRune(ops, rune(c)) {
			return 0, false
		}
		p.pos++
		return c, true
	}
}

// sumThen parses a sum that must be followed by end (a closing parenthesis or an argument's
// comma), which it consumes; missing says what is wrong when end does not follow.
func (p *mathParser) sumThen(end byte, missing string) (*float64, error) {
	v, err := p.sum()
	if err != nil {
		return nil, err
	}
	if p.peek() != end {
		return nil, errors.New(missing)
	}
	p.pos++
	return v, nil
}

func (p *mathParser) atom() (*float64, error) {
	c := p.peek()
	switch {
	case c == '(':
		p.pos++
		return p.sumThen(')', "missing )")
	case c >= '0' && c <= '9':
		start := p.pos
		for p.pos < len(p.src) && (p.src[p.pos] == '.' || (p.src[p.pos] >= '0' && p.src[p.pos] <= '9')) {
			p.pos++
		}
		v, err := strconv.ParseFloat(p.src[start:p.pos], 64)
		return &v, err
	case unicode.IsLetter(rune(c)):
		start := p.pos
		for p.pos < len(p.src) && (p.src[p.pos] == '_' || unicode.IsLetter(rune(p.src[p.pos])) || unicode.IsDigit(rune(p.src[p.pos]))) {
			p.pos++
		}
		name := p.src[start:p.pos]
		if p.peek() != '(' {
			v, ok := p.values[name]
			if !ok {
				return nil, fmt.Errorf("unknown query id %s", name)
			}
			return v, nil
		}
		if strings.ToUpper(name) != "FILL" {
			return nil, fmt.Errorf("function %s is not evaluated here", name)
		}
		p.pos++
		v, err := p.sumThen(',', "FILL needs two arguments")
		if err != nil {
			return nil, err
		}
		fill, err := p.sumThen(')', "missing ) after FILL")
		if err != nil {
			return nil, err
		}
		if v == nil {
			return fill, nil
		}
		return v, nil
	}
	return nil, fmt.Errorf("unexpected %q at %d", c, p.pos)
}

// MatchEvent matches an EventBridge event pattern against an event: every field the pattern
// names must be in the event; an array lists the values any of which matches (null matches a
// JSON null; {"anything-but": [...]} matches a value not in the list); an object descends.
// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html and
// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html.
func MatchEvent(pattern, event map[string]any) bool {
	for k, pv := range pattern {
		ev, present := event[k]
		switch p := pv.(type) {
		case map[string]any:
			sub, ok := ev.(map[string]any)
			if !present || !ok || !MatchEvent(p, sub) {
				return false
			}
		case []any:
			if !present || !matchAny(p, ev) {
				return false
			}
		default:
			return false // a pattern's leaf is always an array
		}
	}
	return true
}

func matchAny(options []any, v any) bool {
	for _, o := range options {
		switch o := o.(type) {
		case nil:
			if v == nil {
				return true
			}
		case map[string]any:
			if but, ok := o["anything-but"]; ok {
				list, _ := but.([]any)
				if v == nil {
					continue // anything-but matches values, not null
				}
				in := false
				for _, x := range list {
					in = in || reflect.DeepEqual(x, v)
				}
				if !in {
					return true
				}
			}
		default:
			if reflect.DeepEqual(o, v) {
				return true
			}
		}
	}
	return false
}
