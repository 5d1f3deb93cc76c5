package sfnlocal

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// A jsonPath is a compiled JSONPath expression ($ for the state input, $$ for the context
// object). Definite paths (only names and indexes) select one value; the others (wildcards,
// slices, filters, recursive descent, unions) select a list.
type jsonPath struct {
	raw      string
	context  bool
	segs     []pathSeg
	definite bool
}

type segKind int

const (
	segName segKind = iota
	segIndex
	segWildcard
	segSlice
	segUnion
	segDescend // ..name or ..*
	segFilter
)

type pathSeg struct {
	kind   segKind
	name   string
	index  int
	names  []string // union of names
	idxs   []int    // union of indexes
	start  *int     // slice
	end    *int
	step   int
	filter *filterExpr
}

func compilePath(raw string) (*jsonPath, error) {
	p := &jsonPath{raw: raw, definite: true}
	s := raw
	switch {
	case strings.HasPrefix(s, "$$"):
		p.context = true
		s = s[2:]
	case strings.HasPrefix(s, "$"):
		s = s[1:]
	default:
		return nil, fmt.Errorf("path %q must start with $ or $$", raw)
	}
	for len(s) > 0 {
		switch {
		case strings.HasPrefix(s, ".."):
			s = s[2:]
			name, rest := readName(s)
			if name == "" && strings.HasPrefix(rest, "*") {
				name, rest = "*", rest[1:]
			}
			if name == "" {
				return nil, fmt.Errorf("path %q: a name must follow ..", raw)
			}
			p.segs = append(p.segs, pathSeg{kind: segDescend, name: name})
			p.definite = false
			s = rest
		case s[0] == '.':
			s = s[1:]
			if strings.HasPrefix(s, "*") {
				p.segs = append(p.segs, pathSeg{kind: segWildcard})
				p.definite = false
				s = s[1:]
				continue
			}
			name, rest := readName(s)
			if name == "" {
				return nil, fmt.Errorf("path %q: a name must follow '.'", raw)
			}
			p.segs = append(p.segs, pathSeg{kind: segName, name: name})
			s = rest
		case s[0] == '[':
			seg, rest, err := readBracket(s)
			if err != nil {
				return nil, fmt.Errorf("path %q: %w", raw, err)
			}
			if seg.kind != segName && seg.kind != segIndex {
				p.definite = false
			}
			p.segs = append(p.segs, seg)
			s = rest
		default:
			return nil, fmt.Errorf("path %q: unexpected %q", raw, s[:1])
		}
	}
	return p, nil
}

// readName reads a dot-notation member name.
func readName(s string) (string, string) {
	i := 0
	for i < len(s) && s[i] != '.' && s[i] != '[' {
		i++
	}
	return s[:i], s[i:]
}

func readBracket(s string) (pathSeg, string, error) {
	// s starts with '['
	body := s[1:]
	if strings.HasPrefix(body, "?(") {
		depth, inStr := 0, byte(0)
		for i := 1; i < len(body); i++ {
			c := body[i]
			if inStr != 0 {
				if c == '\\' {
					i++
				} else if c == inStr {
					inStr = 0
				}
				continue
			}
			switch c {
			case '\'', '"':
				inStr = c
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					if i+1 >= len(body) || body[i+1] != ']' {
						return pathSeg{}, "", fmt.Errorf("filter must end with )]")
					}
					f, err := parseFilter(body[2:i])
					if err != nil {
						return pathSeg{}, "", err
					}
					return pathSeg{kind: segFilter, filter: f}, body[i+2:], nil
				}
			}
		}
		return pathSeg{}, "", fmt.Errorf("unterminated filter")
	}
	// Quoted names (possibly a union of them).
	if strings.HasPrefix(body, "'") || strings.HasPrefix(body, `"`) {
		var names []string
		rest := body
		for {
			q := rest[0]
			end := -1
			var sb strings.Builder
			for i := 1; i < len(rest); i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					sb.WriteByte(rest[i+1])
					i++
					continue
				}
				if rest[i] == q {
					end = i
					break
				}
				sb.WriteByte(rest[i])
			}
			if end < 0 {
				return pathSeg{}, "", fmt.Errorf("unterminated quoted name")
			}
			names = append(names, sb.String())
			rest = strings.TrimLeft(rest[end+1:], " ")
			if strings.HasPrefix(rest, "]") {
				rest = rest[1:]
				break
			}
			if !strings.HasPrefix(rest, ",") {
				return pathSeg{}, "", fmt.Errorf("expected ] or , after quoted name")
			}
			rest = strings.TrimLeft(rest[1:], " ")
			if rest == "" || (rest[0] != '\'' && rest[0] != '"') {
				return pathSeg{}, "", fmt.Errorf("expected a quoted name after ,")
			}
		}
		if len(names) == 1 {
			return pathSeg{kind: segName, name: names[0]}, rest, nil
		}
		return pathSeg{kind: segUnion, names: names}, rest, nil
	}
	end := strings.IndexByte(body, ']')
	if end < 0 {
		return pathSeg{}, "", fmt.Errorf("missing ]")
	}
	inner := strings.TrimSpace(body[:end])
	rest := body[end+1:]
	if inner == "*" {
		return pathSeg{kind: segWildcard}, rest, nil
	}
	if strings.Contains(inner, ":") {
		parts := strings.Split(inner, ":")
		if len(parts) > 3 {
			return pathSeg{}, "", fmt.Errorf("bad slice [%s]", inner)
		}
		seg := pathSeg{kind: segSlice, step: 1}
		for i, part := range parts {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			n, err := strconv.Atoi(part)
			if err != nil {
				return pathSeg{}, "", fmt.Errorf("bad slice [%s]", inner)
			}
			switch i {
			case 0:
				seg.start = &n
			case 1:
				seg.end = &n
			case 2:
				if n == 0 {
					return pathSeg{}, "", fmt.Errorf("slice step must not be 0")
				}
				seg.step = n
			}
		}
		return seg, rest, nil
	}
	if strings.Contains(inner, ",") {
		var idxs []int
		for _, part := range strings.Split(inner, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(part))
			if err != nil {
				return pathSeg{}, "", fmt.Errorf("bad index list [%s]", inner)
			}
			idxs = append(idxs, n)
		}
		return pathSeg{kind: segUnion, idxs: idxs}, rest, nil
	}
	n, err := strconv.Atoi(inner)
	if err != nil {
		return pathSeg{}, "", fmt.Errorf("bad index [%s]", inner)
	}
	return pathSeg{kind: segIndex, index: n}, rest, nil
}

// get evaluates the path. For a definite path it returns the one value and whether it exists;
// for the others it returns the list of matches (found is always true).
func (p *jsonPath) get(input, ctxObj any) (any, bool) {
	root := input
	if p.context {
		root = ctxObj
	}
	if p.definite {
		cur := root
		for _, s := range p.segs {
			switch s.kind {
			case segName:
				m, ok := cur.(map[string]any)
				if !ok {
					return nil, false
				}
				v, ok := m[s.name]
				if !ok {
					return nil, false
				}
				cur = v
			case segIndex:
				a, ok := cur.([]any)
				if !ok {
					return nil, false
				}
				i := s.index
				if i < 0 {
					i += len(a)
				}
				if i < 0 || i >= len(a) {
					return nil, false
				}
				cur = a[i]
			}
		}
		return cur, true
	}
	nodes := []any{root}
	for _, s := range p.segs {
		var next []any
		for _, n := range nodes {
			next = s.apply(n, next)
		}
		nodes = next
	}
	if nodes == nil {
		nodes = []any{}
	}
	return nodes, true
}

func (s *pathSeg) apply(n any, out []any) []any {
	switch s.kind {
	case segName:
		if m, ok := n.(map[string]any); ok {
			if v, ok := m[s.name]; ok {
				out = append(out, v)
			}
		}
	case segIndex:
		if a, ok := n.([]any); ok {
			i := s.index
			if i < 0 {
				i += len(a)
			}
			if i >= 0 && i < len(a) {
				out = append(out, a[i])
			}
		}
	case segWildcard:
		switch v := n.(type) {
		case map[string]any:
			for _, k := range sortedKeys(v) {
				out = append(out, v[k])
			}
		case []any:
			out = append(out, v...)
		}
	case segUnion:
		if m, ok := n.(map[string]any); ok {
			for _, name := range s.names {
				if v, ok := m[name]; ok {
					out = append(out, v)
				}
			}
		}
		if a, ok := n.([]any); ok {
			for _, i := range s.idxs {
				if i < 0 {
					i += len(a)
				}
				if i >= 0 && i < len(a) {
					out = append(out, a[i])
				}
			}
		}
	case segSlice:
		a, ok := n.([]any)
		if !ok {
			break
		}
		l := len(a)
		norm := func(p *int, def int) int {
			if p == nil {
				return def
			}
			i := *p
			if i < 0 {
				i += l
			}
			return max(0, min(i, l))
		}
		if s.step > 0 {
			for i := norm(s.start, 0); i < norm(s.end, l); i += s.step {
				out = append(out, a[i])
			}
		} else {
			start := l - 1
			if s.start != nil {
				start = min(norm(s.start, 0), l-1)
			}
			end := -1
			if s.end != nil {
				end = norm(s.end, 0)
			}
			for i := start; i > end; i += s.step {
				out = append(out, a[i])
			}
		}
	case segDescend:
		out = descend(n, s.name, out)
	case segFilter:
		switch v := n.(type) {
		case []any:
			for _, e := range v {
				if s.filter.eval(e) {
					out = append(out, e)
				}
			}
		case map[string]any:
			for _, k := range sortedKeys(v) {
				if s.filter.eval(v[k]) {
					out = append(out, v[k])
				}
			}
		}
	}
	return out
}

func descend(n any, name string, out []any) []any {
	switch v := n.(type) {
	case map[string]any:
		keys := sortedKeys(v)
		if name == "*" {
			for _, k := range keys {
				out = append(out, v[k])
			}
		} else if c, ok := v[name]; ok {
			out = append(out, c)
		}
		for _, k := range keys {
			out = descend(v[k], name, out)
		}
	case []any:
		if name == "*" {
			out = append(out, v...)
		}
		for _, e := range v {
			out = descend(e, name, out)
		}
	}
	return out
}

// filterExpr is a JSONPath filter: comparisons of @-paths with literals, existence tests,
// joined by && and ||.
type filterExpr struct {
	or [][]filterTerm // disjunction of conjunctions
}

type filterTerm struct {
	path  *jsonPath // relative to @, compiled as $...
	op    string    // "" for existence
	value any
}

func parseFilter(s string) (*filterExpr, error) {
	f := &filterExpr{}
	for _, disj := range splitTop(s, "||") {
		var conj []filterTerm
		for _, part := range splitTop(disj, "&&") {
			t, err := parseFilterTerm(strings.TrimSpace(part))
			if err != nil {
				return nil, err
			}
			conj = append(conj, t)
		}
		f.or = append(f.or, conj)
	}
	return f, nil
}

func splitTop(s, sep string) []string {
	var parts []string
	var inStr byte
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inStr != 0 {
			if c == inStr {
				inStr = 0
			}
			continue
		}
		if c == '\'' || c == '"' {
			inStr = c
			continue
		}
		if strings.HasPrefix(s[i:], sep) {
			parts = append(parts, s[last:i])
			i += len(sep) - 1
			last = i + 1
		}
	}
	return append(parts, s[last:])
}

func parseFilterTerm(s string) (filterTerm, error) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(s, "("), ")"))
	for _, op := range []string{"==", "!=", "<=", ">=", "<", ">"} {
		if i := strings.Index(s, op); i > 0 {
			left, right := strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+len(op):])
			p, err := filterPath(left)
			if err != nil {
				return filterTerm{}, err
			}
			var v any
			if strings.HasPrefix(right, "'") && strings.HasSuffix(right, "'") && len(right) >= 2 {
				v = right[1 : len(right)-1]
			} else if err := json.Unmarshal([]byte(right), &v); err != nil {
				return filterTerm{}, fmt.Errorf("filter value %q is not a literal", right)
			}
			return filterTerm{path: p, op: op, value: v}, nil
		}
	}
	p, err := filterPath(s)
	if err != nil {
		return filterTerm{}, err
	}
	return filterTerm{path: p}, nil
}

func filterPath(s string) (*jsonPath, error) {
	if !strings.HasPrefix(s, "@") {
		return nil, fmt.Errorf("filter operand %q must start with @", s)
	}
	p, err := compilePath("$" + s[1:])
	if err != nil {
		return nil, err
	}
	if !p.definite {
		return nil, fmt.Errorf("filter operand %q must be a simple path", s)
	}
	return p, nil
}

func (f *filterExpr) eval(node any) bool {
	for _, conj := range f.or {
		ok := true
		for _, t := range conj {
			if !t.eval(node) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (t filterTerm) eval(node any) bool {
	v, found := t.path.get(node, nil)
	if !found {
		return false
	}
	if t.op == "" {
		return true
	}
	switch t.op {
	case "==":
		return deepEqual(v, t.value)
	case "!=":
		return !deepEqual(v, t.value)
	}
	switch a := v.(type) {
	case float64:
		b, ok := t.value.(float64)
		if !ok {
			return false
		}
		return compareOrdered(a, b, t.op)
	case string:
		b, ok := t.value.(string)
		if !ok {
			return false
		}
		return compareOrdered(a, b, t.op)
	}
	return false
}

func compareOrdered[T float64 | string](a, b T, op string) bool {
	switch op {
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	}
	return false
}

// A referencePath is the restricted path ResultPath accepts: names and indexes only.
type referencePath struct {
	raw  string
	segs []pathSeg
}

func compileReferencePath(raw string) (*referencePath, error) {
	p, err := compilePath(raw)
	if err != nil {
		return nil, err
	}
	if p.context {
		return nil, fmt.Errorf("reference path %q cannot refer to the context object", raw)
	}
	if !p.definite {
		return nil, fmt.Errorf("reference path %q may only use names and indexes", raw)
	}
	return &referencePath{raw: raw, segs: p.segs}, nil
}

// set returns root with value placed at the path, creating missing objects on the way. It
// copies the containers it changes so that root (shared with history and other branches)
// is never modified.
func (p *referencePath) set(root, value any) (any, error) {
	return setAt(root, p.segs, value, p.raw)
}

func setAt(cur any, segs []pathSeg, value any, raw string) (any, error) {
	if len(segs) == 0 {
		return value, nil
	}
	s := segs[0]
	switch s.kind {
	case segName:
		var m map[string]any
		switch v := cur.(type) {
		case map[string]any:
			m = make(map[string]any, len(v)+1)
			for k, e := range v {
				m[k] = e
			}
		case nil:
			m = map[string]any{}
		default:
			return nil, fmt.Errorf("cannot set %q: %s is not an object", raw, typeName(cur))
		}
		child, err := setAt(m[s.name], segs[1:], value, raw)
		if err != nil {
			return nil, err
		}
		m[s.name] = child
		return m, nil
	case segIndex:
		a, ok := cur.([]any)
		if !ok {
			return nil, fmt.Errorf("cannot set %q: %s is not an array", raw, typeName(cur))
		}
		i := s.index
		if i < 0 {
			i += len(a)
		}
		if i < 0 || i >= len(a) {
			return nil, fmt.Errorf("cannot set %q: index %d is outside the array of %d", raw, s.index, len(a))
		}
		na := append([]any(nil), a...)
		child, err := setAt(na[i], segs[1:], value, raw)
		if err != nil {
			return nil, err
		}
		na[i] = child
		return na, nil
	}
	return nil, fmt.Errorf("cannot set %q", raw)
}
