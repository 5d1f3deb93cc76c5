// Package alarms evaluates keyrotor's alerting as CloudWatch and EventBridge would: the metric
// filters' patterns over the log lines the functions really write, the alarms' metric math and
// thresholds over the resulting metrics, and the EventBridge rule's event pattern over Step
// Functions' execution status-change events. Everything it evaluates is read from infra/.
package alarms

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Pattern is a CloudWatch Logs filter pattern: a JSON pattern ({ ... }) or terms of
// unstructured text. Syntax: "Filter and pattern syntax", CloudWatch Logs User Guide
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html) and
// "Using filter patterns to match terms in JSON log events"
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/matching-terms-json-log-events.html).
type Pattern struct {
	json  node   // a JSON pattern, or nil
	terms []term // text terms otherwise; none matches every event
}

type term struct {
	text     string
	optional bool // ?term: at least one optional term must appear
	exclude  bool // -term: must not appear
}

// ParsePattern parses a filter pattern.
func ParsePattern(s string) (*Pattern, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "{") {
		if !strings.HasSuffix(t, "}") {
			return nil, fmt.Errorf("filter pattern %q: a JSON pattern must end with }", s)
		}
		p := &jsonParser{src: t[1 : len(t)-1]}
		n, err := p.or()
		if err != nil {
			return nil, fmt.Errorf("filter pattern %q: %w", s, err)
		}
		if p.skipSpace(); p.pos != len(p.src) {
			return nil, fmt.Errorf("filter pattern %q: unexpected %q", s, p.src[p.pos:])
		}
		return &Pattern{json: n}, nil
	}
	terms, err := splitTerms(t)
	if err != nil {
		return nil, fmt.Errorf("filter pattern %q: %w", s, err)
	}
	return &Pattern{terms: terms}, nil
}

// Match reports whether the pattern matches a log event's message. A JSON pattern matches only
// a message that is a JSON object; terms match case-sensitively.
func (p *Pattern) Match(message string) bool {
	if p.json != nil {
		var doc any
		dec := json.NewDecoder(strings.NewReader(message))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			return false
		}
		if _, ok := doc.(map[string]any); !ok {
			return false
		}
		return p.json.eval(doc)
	}
	anyOptional, optionalFound := false, false
	for _, t := range p.terms {
		found := strings.Contains(message, t.text)
		switch {
		case t.exclude:
			if found {
				return false
			}
		case t.optional:
			anyOptional = true
			optionalFound = optionalFound || found
		case !found:
			return false
		}
	}
	return !anyOptional || optionalFound
}

// splitTerms splits unstructured terms at spaces; a double-quoted term may hold spaces.
func splitTerms(s string) ([]term, error) {
	var out []term
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		var t term
		switch s[0] {
		case '?':
			t.optional, s = true, s[1:]
		case '-':
			t.exclude, s = true, s[1:]
		}
		if strings.HasPrefix(s, `"`) {
			end := strings.Index(s[1:], `"`)
			if end < 0 {
				return nil, fmt.Errorf("unterminated quoted term %s", s)
			}
			t.text, s = s[1:end+1], s[end+2:]
		} else {
			end := strings.IndexFunc(s, unicode.IsSpace)
			if end < 0 {
				end = len(s)
			}
			t.text, s = s[:end], s[end:]
		}
		out = append(out, t)
	}
	return out, nil
}

type node interface{ eval(doc any) bool }

type andNode struct{ l, r node }
type orNode struct{ l, r node }

func (n andNode) eval(doc any) bool { return n.l.eval(doc) && n.r.eval(doc) }
func (n orNode) eval(doc any) bool  { return n.l.eval(doc) || n.r.eval(doc) }

// comparison is selector op value, selector IS TRUE|FALSE|NULL, or selector [NOT] EXISTS.
type comparison struct {
	path   []any // string keys and int indexes
	op     string
	value  string
	quoted bool
}

func (c comparison) eval(doc any) bool {
	v, found := lookup(doc, c.path)
	switch c.op {
	case "EXISTS":
		return found
	case "NOT EXISTS":
		return !found
	}
	if !found {
		return false
	}
	switch c.op {
	case "IS TRUE", "IS FALSE":
		b, ok := v.(bool)
		return ok && b == (c.op == "IS TRUE")
	case "IS NULL":
		return v == nil
	}
	if num, ok := v.(json.Number); ok && !c.quoted {
		want, err := strconv.ParseFloat(c.value, 64)
		got, err2 := num.Float64()
		if err != nil || err2 != nil {
			return false
		}
		switch c.op {
		case "=":
			return got == want
		case "!=":
			return got != want
		case "<":
			return got < want
		case "<=":
			return got <= want
		case ">":
			return got > want
		case ">=":
			return got >= want
		}
		return false
	}
	s, ok := v.(string)
	if !ok {
		return false
	}
	switch c.op {
	case "=":
		return wildcardMatch(c.value, s)
	case "!=":
		return !wildcardMatch(c.value, s)
	}
	return false // numeric operators on a string field
}

// wildcardMatch matches s against pattern, where * stands for any run of characters.
func wildcardMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(s, p)
		}
		j := strings.Index(s, p)
		if j < 0 {
			return false
		}
		s = s[j+len(p):]
	}
	return true
}

func lookup(doc any, path []any) (any, bool) {
	v := doc
	for _, step := range path {
		switch k := step.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[k]; !ok {
				return nil, false
			}
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil, false
			}
			v = a[k]
		}
	}
	return v, true
}

type jsonParser struct {
	src string
	pos int
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.src) && unicode.IsSpace(rune(p.src[p.pos])) {
		p.pos++
	}
}

func (p *jsonParser) accept(tok string) bool {
	p.skipSpace()
	if strings.HasPrefix(p.src[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

// or and and are the pattern's two boolean levels, && binding tighter (leftChain).
func (p *jsonParser) or() (node, error) {
	return leftChain(p.and, p.token("||"), func(_ byte, l, r node) node { return orNode{l, r} })
}

func (p *jsonParser) and() (node, error) {
	return leftChain(p.unary, p.token("&&"), func(_ byte, l, r node) node { return andNode{l, r} })
}

// token consumes tok if it comes next.
func (p *jsonParser) token(tok string) func() (byte, bool) {
	return func() (byte, bool) { return 0, p.accept(tok) }
}

// leftChain parses operand (op operand)* and joins it from the left, as both parsers'
// binary operators associate: op consumes the next operator if there is one.
func leftChain[T any](operand func() (T, error), op func() (byte, bool), join func(op byte, l, r T) T) (T, error) {
	l, err := operand()
	if err != nil {
		return l, err
	}
	for c, ok := op(); ok; c, ok = op() {
		r, err := operand()
		if err != nil {
			var zero T
			return zero, err
		}
		l = join(c, l, r)
	}
	return l, nil
}

func (p *jsonParser) unary() (node, error) {
	if p.accept("(") {
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.accept(")") {
			return nil, fmt.Errorf("missing ) at %d", p.pos)
		}
		return n, nil
	}
	return p.comparison()
}

func (p *jsonParser) comparison() (node, error) {
	path, err := p.selector()
	if err != nil {
		return nil, err
	}
	c := comparison{path: path}
	switch {
	case p.accept("IS TRUE"):
		c.op = "IS TRUE"
	case p.accept("IS FALSE"):
		c.op = "IS FALSE"
	case p.accept("IS NULL"):
		c.op = "IS NULL"
	case p.accept("NOT EXISTS"):
		c.op = "NOT EXISTS"
	case p.accept("EXISTS"):
		c.op = "EXISTS"
	default:
		for _, op := range []string{"!=", "<=", ">=", "=", "<", ">"} {
			if p.accept(op) {
				c.op = op
				break
			}
		}
		if c.op == "" {
			return nil, fmt.Errorf("expected an operator at %d", p.pos)
		}
		c.value, c.quoted, err = p.value()
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// selector parses $.a.b[0].c and $.['dotted.name'].
func (p *jsonParser) selector() ([]any, error) {
	if !p.accept("$") {
		return nil, fmt.Errorf("expected a selector ($.field) at %d", p.pos)
	}
	var path []any
	for p.pos < len(p.src) {
		switch {
		case strings.HasPrefix(p.src[p.pos:], ".['"):
			end := strings.Index(p.src[p.pos+3:], "']")
			if end < 0 {
				return nil, fmt.Errorf("unterminated ['...'] at %d", p.pos)
			}
			path = append(path, p.src[p.pos+3:p.pos+3+end])
			p.pos += 3 + end + 2
		case p.src[p.pos] == '.':
			p.pos++
			start := p.pos
			for p.pos < len(p.src) && (isIdent(p.src[p.pos])) {
				p.pos++
			}
			if start == p.pos {
				return nil, fmt.Errorf("empty field name at %d", p.pos)
			}
			path = append(path, p.src[start:p.pos])
		case p.src[p.pos] == '[':
			end := strings.IndexByte(p.src[p.pos:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unterminated [ at %d", p.pos)
			}
			i, err := strconv.Atoi(p.src[p.pos+1 : p.pos+end])
			if err != nil {
				return nil, fmt.Errorf("array index at %d: %w", p.pos, err)
			}
			path = append(path, i)
			p.pos += end + 1
		default:
			return path, nil
		}
	}
	return path, nil
}

func isIdent(b byte) bool {
	return b == '_' || b == '-' || b == '@' || b == ':' || ('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z') || ('0' <= b && b <= '9')
}

// value parses a double-quoted string or a bare word (a number, or text with * wildcards).
func (p *jsonParser) value() (string, bool, error) {
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == '"' {
		end := strings.IndexByte(p.src[p.pos+1:], '"')
		if end < 0 {
			return "", false, fmt.Errorf("unterminated string at %d", p.pos)
		}
		v := p.src[p.pos+1 : p.pos+1+end]
		p.pos += end + 2
		return v, true, nil
	}
	start := p.pos
	for p.pos < len(p.src) && !unicode.IsSpace(rune(p.src[p.pos])) && p.src[p.pos] != ')' {
		p.pos++
	}
	if start == p.pos {
		return "", false, fmt.Errorf("expected a value at %d", p.pos)
	}
	return p.src[start:p.pos], false, nil
}
