package awsmodel

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Request is an AWS request as the wire carries it.
type Request struct {
	Method string
	Path   string // unescaped URL path
	Query  url.Values
	Header http.Header
	Body   []byte
}

// FromHTTP takes what the model needs of r, whose body was read into body.
func FromHTTP(r *http.Request, body []byte) Request {
	return Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header, Body: body}
}

// Operation finds the operation a request of this service calls and decodes its input into a
// value tree. It returns nil when the request names no operation of the model (the service
// answers those itself).
func (s *Service) Operation(req Request) (*Operation, map[string]any) {
	switch s.Protocol {
	case "json":
		target := req.Header.Get("X-Amz-Target")
		name, ok := strings.CutPrefix(target, s.TargetPrefix+".")
		op := s.Operations[name]
		if !ok || op == nil {
			return nil, nil
		}
		in := map[string]any{}
		if len(strings.TrimSpace(string(req.Body))) > 0 && json.Unmarshal(req.Body, &in) != nil {
			return nil, nil // not JSON: the service answers SerializationException itself
		}
		return op, in
	case "query":
		values := url.Values{}
		for k, v := range req.Query {
			values[k] = append(values[k], v...)
		}
		if form, err := url.ParseQuery(string(req.Body)); err == nil {
			for k, v := range form {
				values[k] = append(values[k], v...)
			}
		}
		op := s.Operations[values.Get("Action")]
		if op == nil {
			return nil, nil
		}
		in, _ := queryValue(op.Input, values, "").(map[string]any)
		if in == nil {
			in = map[string]any{}
		}
		return op, in
	case "rest-json", "rest-xml":
		// Several URIs may match (PUT /{Bucket}/{Key+} and PUT /{Bucket}/{Key+}?tagging): the
		// one that fixes the most query parameters is the operation.
		// Among equals, one whose required headers are all sent (PutObject rather than
		// CopyObject, which requires x-amz-copy-source).
		var best *Operation
		var bestLabels map[string]string
		bestScore := -1
		for _, op := range s.Operations {
			labels, ok := op.route.match(req)
			if !ok {
				continue
			}
			score := 2 * len(op.route.literals)
			if requiredHeadersSent(op, req) {
				score++
			}
			if score > bestScore || score == bestScore && op.Name < best.Name {
				best, bestLabels, bestScore = op, labels, score
			}
		}
		if best != nil {
			return best, s.restInput(best, req, bestLabels)
		}
	}
	return nil, nil
}

// queryValue decodes the members under prefix of an awsQuery request (IAM, STS): structure
// members by name, lists as Name.member.N, maps as Name.entry.N.key/value.
func queryValue(ref *Ref, values url.Values, prefix string) any {
	if ref == nil || ref.shape == nil {
		return nil
	}
	sh := ref.shape
	join := func(name string) string {
		if prefix == "" {
			return name
		}
		return prefix + "." + name
	}
	switch sh.Type {
	case "structure":
		out := map[string]any{}
		for name, m := range sh.Members {
			key := name
			if m.LocationName != "" {
				key = m.LocationName
			}
			if v := queryValue(m, values, join(key)); v != nil {
				out[name] = v
			}
		}
		if len(out) == 0 && prefix != "" {
			return nil
		}
		return out
	case "list":
		// An empty list is sent as the bare name with an empty value.
		if _, ok := values[prefix]; ok && values.Get(prefix) == "" {
			return []any{}
		}
		item := join("member")
		if sh.Flattened || ref.Flattened {
			item = prefix
		}
		var out []any
		for i := 1; ; i++ {
			v := queryValue(sh.Member, values, item+"."+strconv.Itoa(i))
			if v == nil {
				break
			}
			out = append(out, v)
		}
		if out == nil {
			return nil
		}
		return out
	case "map":
		out := map[string]any{}
		for i := 1; ; i++ {
			entry := join("entry." + strconv.Itoa(i))
			k, ok := values[entry+".key"]
			if !ok {
				break
			}
			out[k[0]] = queryValue(sh.Value, values, entry+".value")
		}
		if len(out) == 0 {
			return nil
		}
		return out
	default:
		v, ok := values[prefix]
		if !ok {
			return nil
		}
		return scalar(sh, v[0])
	}
}

// scalar is a wire string as the value tree holds it.
func scalar(sh *Shape, s string) any {
	switch sh.Type {
	case "integer", "long", "float", "double":
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
	case "boolean":
		return s == "true"
	}
	return s
}

// route matches a REST operation's request URI, "/{Bucket}/{Key+}?uploads".
type route struct {
	method   string
	re       *regexp.Regexp
	labels   []string
	literals url.Values // query parameters the URI fixes (?uploads, ?x-id=GetObject)
}

var labelRE = regexp.MustCompile(`\{([^}]+)\}`)

func newRoute(method, uri string) *route {
	path, query, _ := strings.Cut(uri, "?")
	r := &route{method: method}
	r.literals, _ = url.ParseQuery(query)
	r.literals.Del("x-id") // the SDKs add ?x-id=<Operation>; other clients do not, S3 needs none
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, m := range labelRE.FindAllStringSubmatchIndex(path, -1) {
		b.WriteString(regexp.QuoteMeta(path[last:m[0]]))
		name := path[m[2]:m[3]]
		if greedy, ok := strings.CutSuffix(name, "+"); ok {
			r.labels = append(r.labels, greedy)
			b.WriteString("(.+)")
		} else {
			r.labels = append(r.labels, name)
			b.WriteString("([^/]+)")
		}
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(path[last:]))
	b.WriteString("$")
	r.re = regexp.MustCompile(b.String())
	return r
}

func (r *route) match(req Request) (map[string]string, bool) {
	if r == nil || req.Method != r.method {
		return nil, false
	}
	m := r.re.FindStringSubmatch(req.Path)
	if m == nil {
		return nil, false
	}
	for k, want := range r.literals {
		got, ok := req.Query[k]
		if !ok || want[0] != "" && (len(got) == 0 || got[0] != want[0]) {
			return nil, false
		}
	}
	labels := map[string]string{}
	for i, name := range r.labels {
		labels[name] = m[i+1]
	}
	return labels, true
}

// restInput decodes a REST request's members from its URI labels, query string, headers and,
// for rest-json, its JSON body.
func (s *Service) restInput(op *Operation, req Request, labels map[string]string) map[string]any {
	in := map[string]any{}
	if op.Input == nil || op.Input.shape == nil {
		return in
	}
	bodyMembers := false
	for name, m := range op.Input.shape.Members {
		if m.shape == nil {
			continue
		}
		key := m.LocationName
		if key == "" {
			key = name
		}
		switch m.Location {
		case "uri":
			if v, ok := labels[key]; ok && v != "" {
				in[name] = scalar(m.shape, v)
			}
		case "querystring":
			if v, ok := req.Query[key]; ok {
				in[name] = scalar(m.shape, v[0])
			}
		case "header":
			if v := req.Header.Get(key); v != "" {
				in[name] = scalar(m.shape, v)
			}
		case "":
			if m.shape.Type != "blob" && m.shape.Type != "structure" || s.Protocol == "rest-json" && m.shape.Type == "structure" {
				bodyMembers = true
			}
		}
	}
	if bodyMembers && s.Protocol == "rest-json" && len(req.Body) > 0 {
		var body map[string]any
		if json.Unmarshal(req.Body, &body) == nil {
			for k, v := range body {
				if m, ok := op.Input.shape.Members[k]; ok && m.Location == "" {
					in[k] = v
				}
			}
		}
	}
	return in
}

func requiredHeadersSent(op *Operation, req Request) bool {
	if op.Input == nil || op.Input.shape == nil {
		return true
	}
	for _, name := range op.Input.shape.Required {
		m := op.Input.shape.Members[name]
		if m != nil && m.Location == "header" && req.Header.Get(m.LocationName) == "" {
			return false
		}
	}
	return true
}
