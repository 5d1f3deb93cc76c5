package sfnlocal

import (
	"encoding/json"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeFast decodes JSON into the same values encoding/json produces for an any
// (map[string]any, []any, float64, string, bool, nil) without reflection. On malformed input
// it defers to encoding/json for the error message.
func decodeFast(b []byte) (any, error) {
	v, _, err := decodeCompactText(string(b))
	return v, err
}

// decodeCompactText decodes text as decodeFast does and also reports whether it was already
// compact (no whitespace between tokens), so it can go into the history as is. Strings
// without escapes are substrings of text (strings are immutable: sharing is safe), not
// copies.
func decodeCompactText(text string) (any, bool, error) {
	d := decoder{b: text}
	d.skipSpace()
	v, ok := d.value(0)
	if ok {
		d.skipSpace()
		ok = d.i == len(d.b)
	}
	if !ok {
		var x any
		if err := json.Unmarshal([]byte(text), &x); err != nil {
			return nil, false, err
		}
		return x, false, nil // encoding/json accepts what this decoder does not; trust it
	}
	return v, !d.spaced, nil
}

type decoder struct {
	b      string // the input, read byte by byte
	i      int
	spaced bool // whitespace was skipped somewhere
}

const maxDecodeDepth = 10000

func (d *decoder) skipSpace() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
			d.spaced = true
		default:
			return
		}
	}
}

func (d *decoder) value(depth int) (any, bool) {
	if d.i >= len(d.b) || depth > maxDecodeDepth {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		m := map[string]any{}
		if d.openEmpty('}') {
			return m, true
		}
		for {
			d.skipSpace()
			if d.i >= len(d.b) || d.b[d.i] != '"' {
				return nil, false
			}
			k, ok := d.str()
			if !ok {
				return nil, false
			}
			d.skipSpace()
			if d.i >= len(d.b) || d.b[d.i] != ':' {
				return nil, false
			}
			d.i++
			d.skipSpace()
			v, ok := d.value(depth + 1)
			if !ok {
				return nil, false
			}
			n := len(m)
			if m[k] = v; len(m) == n {
				d.spaced = true // a duplicate key: the text says more than the value, do not reuse it
			}
			if more, ok := d.afterElement('}'); !more {
				return m, ok
			}
		}
	case c == '[':
		a := []any{}
		if d.openEmpty(']') {
			return a, true
		}
		for {
			d.skipSpace()
			v, ok := d.value(depth + 1)
			if !ok {
				return nil, false
			}
			a = append(a, v)
			if more, ok := d.afterElement(']'); !more {
				return a, ok
			}
		}
	case c == '"':
		return d.str()
	case c == 't':
		return true, d.lit("true")
	case c == 'f':
		return false, d.lit("false")
	case c == 'n':
		return nil, d.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return d.num()
	}
	return nil, false
}

// openEmpty reads an opening bracket and reports whether the closing one follows at once
// (then read too): an empty object or array.
func (d *decoder) openEmpty(closing byte) bool {
	d.i++
	d.skipSpace()
	if d.i < len(d.b) && d.b[d.i] == closing {
		d.i++
		return true
	}
	return false
}

// afterElement reads what follows a member or element of an object or array: a comma (more
// to come), the closing bracket (done, ok) or anything else (done, not ok).
func (d *decoder) afterElement(closing byte) (more, ok bool) {
	d.skipSpace()
	if d.i >= len(d.b) {
		return false, false
	}
	switch d.b[d.i] {
	case ',':
		d.i++
		return true, false
	case closing:
		d.i++
		return false, true
	}
	return false, false
}

func (d *decoder) lit(s string) bool {
	if len(d.b)-d.i < len(s) || d.b[d.i:d.i+len(s)] != s {
		return false
	}
	d.i += len(s)
	return true
}

func (d *decoder) num() (any, bool) {
	start := d.i
	if d.b[d.i] == '-' {
		d.i++
	}
	if d.i >= len(d.b) {
		return nil, false
	}
	if d.b[d.i] == '0' {
		d.i++
	} else if !d.digits() {
		return nil, false
	}
	if d.i == len(d.b) || d.b[d.i] != '.' && d.b[d.i] != 'e' && d.b[d.i] != 'E' {
		// An integer of up to 15 digits is exact in a float64: no need for ParseFloat.
		if digits := d.b[start:d.i]; len(digits) <= 16 {
			neg := digits[0] == '-'
			if neg {
				digits = digits[1:]
			}
			if len(digits) <= 15 {
				n := int64(0)
				for _, c := range digits {
					n = n*10 + int64(c-'0')
				}
				f := float64(n)
				if neg {
					f = -f
				}
				return f, true
			}
		}
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if !d.digits() {
			return nil, false
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if !d.digits() {
			return nil, false
		}
	}
	f, err := strconv.ParseFloat(d.b[start:d.i], 64)
	if err != nil {
		return nil, false
	}
	return f, true
}

// digits reads a run of decimal digits and reports whether there was one.
func (d *decoder) digits() bool {
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}

func (d *decoder) str() (string, bool) {
	d.i++ // opening quote
	start := d.i
	// Fast path: no escapes and valid ASCII/UTF-8.
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c == '"' {
			s := d.b[start:d.i]
			d.i++
			if utf8.ValidString(s) {
				return s, true
			}
			d.i = start
			break
		}
		if c == '\\' || c < 0x20 {
			break
		}
		d.i++
	}
	// Slow path from the start of the string: escapes and invalid UTF-8 (which becomes
	// U+FFFD, as encoding/json has it).
	d.i = start
	out := make([]byte, 0, 16)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return string(out), true
		case c < 0x20:
			return "", false
		case c == '\\':
			d.i++
			if d.i >= len(d.b) {
				return "", false
			}
			e := d.b[d.i]
			d.i++
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := d.hex4()
				if !ok {
					return "", false
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
						save := d.i
						d.i += 2
						var ok2 bool
						if r2, ok2 = d.hex4(); !ok2 {
							return "", false
						}
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							out = utf8.AppendRune(out, dec)
							continue
						}
						d.i = save
					}
					out = utf8.AppendRune(out, utf8.RuneError)
					continue
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", false
			}
		case c < utf8.RuneSelf:
			out = append(out, c)
			d.i++
		default:
			r, size := utf8.DecodeRuneInString(d.b[d.i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, d.b[d.i:d.i+size]...)
			}
			d.i += size
		}
	}
	return "", false
}

func (d *decoder) hex4() (rune, bool) {
	if len(d.b)-d.i < 4 {
		return 0, false
	}
	var r rune
	for k := d.i; k < d.i+4; k++ {
		c := d.b[k]
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	d.i += 4
	return r, true
}
