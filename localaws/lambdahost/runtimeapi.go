package lambdahost

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Error types Lambda itself reports.
const (
	timeoutErrorType   = "Sandbox.Timedout"
	exitErrorType      = "Runtime.ExitError"
	cancelledErrorType = "Runtime.Cancelled"
	unknownErrorType   = "Runtime.Unknown"
	tooLargeErrorType  = "Function.ResponseSizeTooLarge"
)

// maxPayload is Lambda's synchronous request and response limit.
const maxPayload = 6 * 1024 * 1024

// Runtime API headers (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
const (
	headerRequestID   = "Lambda-Runtime-Aws-Request-Id"
	headerDeadline    = "Lambda-Runtime-Deadline-Ms"
	headerFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID     = "Lambda-Runtime-Trace-Id"
	headerErrorType   = "Lambda-Runtime-Function-Error-Type"
	headerErrorBody   = "Lambda-Runtime-Function-Error-Body"
)

// runtimeAPI serves the Lambda Runtime API to this instance's process only.
func (inst *instance) runtimeAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", inst.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", inst.response)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", inst.invocationError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", inst.initError)
	return mux
}

// next long-polls until the host hands this instance an event.
func (inst *instance) next(w http.ResponseWriter, r *http.Request) {
	inst.mu.Lock()
	select {
	case <-inst.ready:
	default:
		inst.readyAt = time.Now()
		close(inst.ready)
	}
	if inst.handed != nil {
		close(inst.handed.nextCalled)
		inst.handed = nil
	}
	inst.mu.Unlock()
	select {
	case inv := <-inst.queue:
		inst.mu.Lock()
		inst.handed = inv
		inst.mu.Unlock()
		h := w.Header()
		h.Set(headerRequestID, inv.requestID)
		h.Set(headerDeadline, strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set(headerFunctionARN, inst.fn.arn)
		h.Set(headerTraceID, inv.traceID)
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(inv.payload)
	case <-r.Context().Done():
	case <-inst.stopping:
	}
}

// response takes the function's result, or its mid-stream failure carried in trailers.
func (inst *instance) response(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil {
		runtimeAPIError(w, http.StatusBadRequest, "InvalidRequest", "cannot read the response body: "+err.Error())
		return
	}
	out := outcome{payload: body}
	switch {
	case r.Trailer.Get(headerErrorType) != "":
		out = outcome{errorType: r.Trailer.Get(headerErrorType), message: "the function failed while sending its response"}
		if b, err := base64.StdEncoding.DecodeString(r.Trailer.Get(headerErrorBody)); err == nil && json.Valid(b) {
			out.payload = b
			out.errorType, out.message = parseFunctionError(b, out.errorType)
		}
	case len(body) > maxPayload:
		out = outcome{errorType: tooLargeErrorType,
			message: fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxPayload)}
	}
	inst.deliver(w, r.PathValue("id"), out)
}

// invocationError takes the error the function reported for an event.
func (inst *instance) invocationError(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload))
	if err != nil {
		runtimeAPIError(w, http.StatusBadRequest, "InvalidRequest", "cannot read the error body: "+err.Error())
		return
	}
	inst.deliver(w, r.PathValue("id"), functionError(body, r.Header.Get(headerErrorType)))
}

// initError records why init failed; the host then discards this instance.
func (inst *instance) initError(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload))
	if err != nil {
		runtimeAPIError(w, http.StatusBadRequest, "InvalidRequest", "cannot read the error body: "+err.Error())
		return
	}
	out := functionError(body, r.Header.Get(headerErrorType))
	inst.mu.Lock()
	inst.initErr = &out
	inst.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"OK"}`))
}

// deliver hands out to the invocation named id, if it is the one under way.
func (inst *instance) deliver(w http.ResponseWriter, id string, out outcome) {
	inst.mu.Lock()
	inv := inst.current
	inst.mu.Unlock()
	if inv == nil || inv.requestID != id {
		runtimeAPIError(w, http.StatusBadRequest, "InvalidRequestID", fmt.Sprintf("%s: %s", errNotCurrent, id))
		return
	}
	select {
	case inv.result <- out:
	default:
		runtimeAPIError(w, http.StatusBadRequest, "InvalidStateTransition", "a result was already posted for "+id)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"OK"}`))
}

// functionError reads an error body {errorMessage, errorType, stackTrace}; header names the type
// when the body does not.
func functionError(body []byte, header string) outcome {
	errorType, message := parseFunctionError(body, header)
	out := outcome{errorType: errorType, message: message, payload: body}
	if !json.Valid(body) {
		out.payload = nil // rebuilt from type and message
	}
	return out
}

func parseFunctionError(body []byte, header string) (errorType, message string) {
	var e struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(body, &e) != nil {
		e.ErrorMessage = string(body)
	}
	errorType = e.ErrorType
	if errorType == "" {
		errorType = header
	}
	if errorType == "" {
		errorType = unknownErrorType
	}
	return errorType, e.ErrorMessage
}

// errorPayload is the body Lambda returns for an error it raised itself.
func errorPayload(out outcome) []byte {
	b, _ := json.Marshal(struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}{out.errorType, out.message})
	return b
}

func runtimeAPIError(w http.ResponseWriter, status int, errorType, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"errorType": errorType, "errorMessage": message})
}
