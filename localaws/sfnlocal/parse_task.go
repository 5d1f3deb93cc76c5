package sfnlocal

// task reads a Task state's Resource and its timeouts.
func (p *parser) task(st *state, m map[string]any) error {
	res, ok := m["Resource"].(string)
	if !ok || res == "" {
		return st.fieldError("Resource", "is missing (the ARN of the Lambda function or service integration)")
	}
	st.resource = res
	st.kind = taskKindOf(res)
	st.resourceType, st.resourceName = resourceTypeOf(res)
	var err error
	if st.timeoutSeconds, st.timeoutPath, err = p.intOrPath(st.name, m, "TimeoutSeconds", 1); err != nil {
		return err
	}
	if st.heartbeatSeconds, st.heartbeatPath, err = p.intOrPath(st.name, m, "HeartbeatSeconds", 1); err != nil {
		return err
	}
	if st.heartbeatSeconds > 0 && st.timeoutSeconds > 0 && st.heartbeatSeconds >= st.timeoutSeconds {
		return st.fieldError("HeartbeatSeconds", "must be smaller than TimeoutSeconds (%d)", st.timeoutSeconds)
	}
	return nil
}
