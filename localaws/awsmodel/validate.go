package awsmodel

import (
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Violation is one member that fails a constraint of the model.
type Violation struct {
	Path       string // as AWS names it: tags.1.member.value
	Value      any    // nil: the member is missing
	Sensitive  bool   // the value must not be shown (a secret, a parameter value)
	Constraint string // as AWS words it: Member must satisfy regular expression pattern: ...
}

// String is the violation as AWS's validation messages state it.
func (v Violation) String() string {
	switch {
	case v.Value == nil:
		return fmt.Sprintf("Value null at '%s' failed to satisfy constraint: %s", v.Path, v.Constraint)
	case v.Sensitive:
		return fmt.Sprintf("Value at '%s' failed to satisfy constraint: %s", v.Path, v.Constraint)
	}
	return fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: %s", formatValue(v.Value), v.Path, v.Constraint)
}

// Message is the message AWS's services give for a request with these violations:
// "1 validation error detected: Value 'a b' at 'userName' failed to satisfy constraint: ...",
// the violations joined by "; ".
func Message(vs []Violation) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.String()
	}
	noun := "errors"
	if len(vs) == 1 {
		noun = "error"
	}
	return fmt.Sprintf("%d validation %s detected: %s", len(vs), noun, strings.Join(parts, "; "))
}

func formatValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = formatValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		parts := make([]string, 0, len(v))
		for k, e := range v {
			parts = append(parts, k+"="+formatValue(e))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	default:
		return fmt.Sprint(v)
	}
}

// checker walks a request's value tree (JSON-like: map[string]any, []any, string, float64,
// bool) against the input shape.
type checker struct {
	jsonBlobs bool // blobs arrive base64-encoded (JSON protocols)
	out       []Violation
}

// memberPath is how AWS names a member in its messages: the member's name with its first
// letter in lower case.
func memberPath(prefix, name string) string {
	if name == "" {
		return prefix
	}
	name = strings.ToLower(name[:1]) + name[1:]
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func (c *checker) structure(sh *Shape, v map[string]any, path string) {
	for _, name := range sh.Required {
		if x, ok := v[name]; !ok || x == nil {
			c.out = append(c.out, Violation{Path: memberPath(path, name), Constraint: "Member must not be null"})
		}
	}
	// Sorted, for a stable message.
	for _, name := range sortedKeys(v) {
		ref, ok := sh.Members[name]
		if !ok || ref.shape == nil || v[name] == nil {
			continue // members the model does not know are ignored, as AWS does
		}
		c.value(ref.shape, v[name], memberPath(path, name))
	}
}

func (c *checker) value(sh *Shape, v any, path string) {
	switch sh.Type {
	case "structure":
		if m, ok := v.(map[string]any); ok {
			c.structure(sh, m, path)
		}
	case "list":
		l, ok := v.([]any)
		if !ok {
			return
		}
		c.length(sh, v, len(l), path)
		if sh.Member != nil && sh.Member.shape != nil {
			for i, e := range l {
				if e != nil {
					c.value(sh.Member.shape, e, fmt.Sprintf("%s.%d.member", path, i+1))
				}
			}
		}
	case "map":
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		c.length(sh, v, len(m), path)
		for _, k := range sortedKeys(m) {
			if sh.Key != nil && sh.Key.shape != nil {
				c.value(sh.Key.shape, k, path+".key")
			}
			if sh.Value != nil && sh.Value.shape != nil && m[k] != nil {
				c.value(sh.Value.shape, m[k], path+"."+k+".value")
			}
		}
	case "string":
		s, ok := v.(string)
		if !ok {
			return
		}
		c.length(sh, v, len(utf16.Encode([]rune(s))), path) // Java's String.length: UTF-16 units
		if sh.match != nil && !sh.match(s) {
			c.out = append(c.out, Violation{Path: path, Value: v, Sensitive: sh.Sensitive,
				Constraint: "Member must satisfy regular expression pattern: " + sh.Pattern})
		}
		if len(sh.Enum) > 0 && !slices.Contains(sh.Enum, s) {
			c.out = append(c.out, Violation{Path: path, Value: v, Sensitive: sh.Sensitive,
				Constraint: "Member must satisfy enum value set: [" + strings.Join(sh.Enum, ", ") + "]"})
		}
	case "integer", "long", "float", "double":
		f, ok := v.(float64)
		if !ok {
			return
		}
		if sh.Min != nil && f < *sh.Min {
			c.out = append(c.out, Violation{Path: path, Value: v, Constraint: "Member must have value greater than or equal to " + formatValue(*sh.Min)})
		}
		if sh.Max != nil && f > *sh.Max {
			c.out = append(c.out, Violation{Path: path, Value: v, Constraint: "Member must have value less than or equal to " + formatValue(*sh.Max)})
		}
	case "blob":
		s, ok := v.(string)
		if !ok {
			return
		}
		n := len(s)
		if c.jsonBlobs {
			if b, err := base64.StdEncoding.DecodeString(s); err == nil {
				n = len(b)
			}
		}
		c.length(sh, "[blob]", n, path)
	}
}

// length checks a string's, list's, map's or blob's size against min and max.
func (c *checker) length(sh *Shape, v any, n int, path string) {
	if sh.Min != nil && float64(n) < *sh.Min {
		c.out = append(c.out, Violation{Path: path, Value: v, Sensitive: sh.Sensitive,
			Constraint: "Member must have length greater than or equal to " + formatValue(*sh.Min)})
	}
	if sh.Max != nil && float64(n) > *sh.Max {
		c.out = append(c.out, Violation{Path: path, Value: v, Sensitive: sh.Sensitive,
			Constraint: "Member must have length less than or equal to " + formatValue(*sh.Max)})
	}
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// Check validates an operation's input, given as a value tree, against the model.
func (s *Service) Check(op *Operation, input map[string]any) []Violation {
	if op.Input == nil || op.Input.shape == nil {
		return nil
	}
	c := &checker{jsonBlobs: s.Protocol == "json" || s.Protocol == "rest-json"}
	c.structure(op.Input.shape, input, "")
	return c.out
}
