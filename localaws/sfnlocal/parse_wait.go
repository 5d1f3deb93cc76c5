package sfnlocal

// wait reads a Wait state's one duration: Seconds, Timestamp, SecondsPath or TimestampPath.
func (p *parser) wait(st *state, m map[string]any) error {
	n := 0
	if v, ok := m["Seconds"]; ok {
		n++
		s, err := nonNegativeInt(v)
		if err != nil {
			return st.fieldError("Seconds", "%v", err)
		}
		st.waitSeconds, st.hasWaitSeconds = s, true
	}
	if v, ok := m["Timestamp"]; ok {
		n++
		s, _ := v.(string)
		t, err := parseTimestamp(s)
		if err != nil {
			return st.fieldError("Timestamp", "%q is not an RFC 3339 timestamp", s)
		}
		st.waitTimestamp, st.hasWaitTimestamp = t, true
	}
	var err error
	if _, ok := m["SecondsPath"]; ok {
		n++
		if st.waitSecondsPath, err = p.path(st.name, m, "SecondsPath"); err != nil {
			return err
		}
	}
	if _, ok := m["TimestampPath"]; ok {
		n++
		if st.waitTimestampPath, err = p.path(st.name, m, "TimestampPath"); err != nil {
			return err
		}
	}
	if n != 1 {
		return st.fieldError("Seconds", "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath (found %d)", n)
	}
	return nil
}
