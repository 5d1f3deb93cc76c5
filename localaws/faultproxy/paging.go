package faultproxy

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// moto's IAM ListUsers ignores MaxItems and Marker: it answers every user at once with
// IsTruncated false. AWS answers at most MaxItems users (default 100) and a Marker to go on
// from (https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListUsers.html), so a caller
// that pages — keyrotor's fleet listing reads one page per Lambda call — does the work of a
// whole account in one call against moto. The proxy pages moto's full answer as AWS would.

// defaultMaxItems is IAM's default page size.
const defaultMaxItems = 100

// markerPrefix makes the proxy's markers recognisable; AWS's are opaque strings too.
const markerPrefix = "keyrotor-faultproxy-page-"

// pageListUsers cuts moto's complete ListUsers answer to the page that MaxItems and Marker
// ask for. An answer it cannot read is returned unchanged.
func pageListUsers(req request, body []byte) []byte {
	maxItems := defaultMaxItems
	if v, ok := req.params["MaxItems"].(string); ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			maxItems = n
		}
	}
	start := 0
	if v, ok := req.params["Marker"].(string); ok && v != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(v, markerPrefix))
		if err != nil || !strings.HasPrefix(v, markerPrefix) || n < 0 {
			return body
		}
		start = n
	}
	open, end := bytes.Index(body, []byte("<Users>")), bytes.Index(body, []byte("</Users>"))
	truncated := bytes.Index(body, []byte("<IsTruncated>false</IsTruncated>"))
	if open < 0 || end < open || truncated < 0 {
		return body
	}
	members, err := topLevelMembers(body[open+len("<Users>") : end])
	if err != nil {
		return body
	}
	start = min(start, len(members))
	stop := min(start+maxItems, len(members))
	var out bytes.Buffer
	out.Write(body[:open+len("<Users>")])
	for _, m := range members[start:stop] {
		out.Write(m)
	}
	tail := body[end:]
	if stop < len(members) {
		tail = bytes.Replace(tail, []byte("<IsTruncated>false</IsTruncated>"),
			[]byte(fmt.Sprintf("<IsTruncated>true</IsTruncated><Marker>%s%d</Marker>", markerPrefix, stop)), 1)
	}
	out.Write(tail)
	return out.Bytes()
}

// topLevelMembers splits the content of a list element into its <member> elements, each as
// the bytes moto sent (members may hold lists of their own, e.g. Tags).
func topLevelMembers(list []byte) ([][]byte, error) {
	d := xml.NewDecoder(bytes.NewReader(list))
	var members [][]byte
	depth, from := 0, int64(0)
	for {
		before := d.InputOffset()
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if t.Name.Local != "member" {
					return nil, fmt.Errorf("unexpected element %s in a list", t.Name.Local)
				}
				from = before
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == 0 {
				members = append(members, list[from:d.InputOffset()])
			}
		}
	}
	return members, nil
}
