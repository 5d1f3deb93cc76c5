package lambdahost

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keyrotor/keyrotor/localaws/awsmodel"
)

// logTailBytes is how much of the log Invoke returns with X-Amz-Log-Type: Tail.
const logTailBytes = 4 * 1024

// Handler serves the Lambda API subset the SDKs and the AWS CLI use against these functions:
// Invoke (RequestResponse, Event, DryRun), GetFunction and ListFunctions. Any SigV4 signature
// is accepted; nothing is checked against IAM. Every request is first checked against
// Lambda's API model (awsmodel) and refused ValidationException as Lambda refuses it; without
// the models (botocore) every request is answered with an error saying how to install them.
func (h *Host) Handler() http.Handler {
	h.mu.Lock()
	if h.models == nil && h.modelsErr == nil {
		h.models, h.modelsErr = awsmodel.NewChecker("lambda")
	}
	models, modelsErr := h.models, h.modelsErr
	h.mu.Unlock()
	if modelsErr != nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			apiError(w, http.StatusInternalServerError, "ServiceException", "the local Lambda API checks requests against AWS's models: "+modelsErr.Error())
		})
	}
	return models.Handler("lambda", h.routes())
}

func (h *Host) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", h.serveInvoke)
	mux.HandleFunc("GET /2015-03-31/functions/{name}", h.serveGetFunction)
	mux.HandleFunc("GET /2015-03-31/functions/{$}", h.serveListFunctions)
	mux.HandleFunc("GET /2015-03-31/functions", h.serveListFunctions) // botocore omits the trailing slash
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "UnknownOperationException",
			fmt.Sprintf("%s %s is not an operation this local Lambda serves (Invoke, GetFunction, ListFunctions)", r.Method, r.URL.Path))
	})
	return mux
}

func (h *Host) serveInvoke(w http.ResponseWriter, r *http.Request) {
	name := functionRef(r)
	payload, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequestContentException", "cannot read the request body: "+err.Error())
		return
	}
	if len(payload) > maxPayload {
		apiError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException",
			fmt.Sprintf("Request must be smaller than %d bytes for the InvokeFunction operation", maxPayload))
		return
	}
	if len(payload) == 0 {
		payload = []byte("{}") // what Lambda hands a function invoked without a payload
	}
	if !json.Valid(payload) {
		apiError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json: the payload is not valid JSON")
		return
	}
	if _, err := h.lookup(name); err != nil {
		invokeError(w, err)
		return
	}

	switch r.Header.Get("X-Amz-Invocation-Type") {
	case "", "RequestResponse":
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
		return
	case "Event":
		go func() { _, _ = h.Invoke(context.Background(), name, payload) }()
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		w.WriteHeader(http.StatusAccepted)
		return
	} // any other type is refused by Lambda's API model before this handler (Handler)

	res, err := h.Invoke(r.Context(), name, payload)
	if err != nil {
		invokeError(w, err)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Amzn-Requestid", res.RequestID)
	hdr.Set("X-Amz-Executed-Version", res.ExecutedVersion)
	if res.FunctionError != "" {
		hdr.Set("X-Amz-Function-Error", res.FunctionError)
	}
	if r.Header.Get("X-Amz-Log-Type") == "Tail" {
		hdr.Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString(logTail(res.Logs, logTailBytes)))
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(res.Payload)
}

func invokeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrFunctionNotFound):
		apiError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+strings.TrimPrefix(err.Error(), ErrFunctionNotFound.Error()+": "))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		apiError(w, http.StatusServiceUnavailable, "ServiceException", err.Error())
	default:
		apiError(w, http.StatusInternalServerError, "ServiceException", err.Error())
	}
}

// functionConfiguration is the FunctionConfiguration shape of GetFunction and ListFunctions.
// Environment is left out on purpose: its values may be credentials.
type functionConfiguration struct {
	FunctionName  string
	FunctionArn   string
	Runtime       string
	Handler       string
	Timeout       int
	MemorySize    int
	LastModified  string
	Version       string
	State         string
	PackageType   string
	Architectures []string
}

func (h *Host) configuration(f *function) functionConfiguration {
	return functionConfiguration{
		FunctionName:  f.cfg.Name,
		FunctionArn:   f.arn,
		Runtime:       "provided.al2023",
		Handler:       f.cfg.Handler,
		Timeout:       int((f.cfg.Timeout + time.Second - 1) / time.Second),
		MemorySize:    f.cfg.MemoryMB,
		LastModified:  f.deployed.UTC().Format("2006-01-02T15:04:05.000-0700"),
		Version:       "$LATEST",
		State:         "Active",
		PackageType:   "Zip",
		Architectures: []string{"x86_64"},
	}
}

func (h *Host) serveGetFunction(w http.ResponseWriter, r *http.Request) {
	f, err := h.lookup(functionRef(r))
	if err != nil {
		invokeError(w, err)
		return
	}
	writeJSON(w, map[string]any{
		"Configuration": h.configuration(f),
		"Code":          map[string]string{"RepositoryType": "Local", "Location": "file://" + f.cfg.Path},
	})
}

func (h *Host) serveListFunctions(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	confs := make([]functionConfiguration, 0, len(h.funcs))
	for _, f := range h.funcs {
		confs = append(confs, h.configuration(f))
	}
	h.mu.Unlock()
	slices.SortFunc(confs, func(a, b functionConfiguration) int { return strings.Compare(a.FunctionName, b.FunctionName) })
	writeJSON(w, map[string]any{"Functions": confs})
}

// functionRef is the path's function name or ARN with its Qualifier query, if any.
func functionRef(r *http.Request) string {
	name := r.PathValue("name")
	if q := r.URL.Query().Get("Qualifier"); q != "" {
		name += ":" + q
	}
	return name
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// apiError writes an error the way Lambda's REST-JSON API does, which botocore and the Go SDK
// read from X-Amzn-Errortype and the body's message.
func apiError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Type": "User", "message": message})
}
