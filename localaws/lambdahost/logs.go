package lambdahost

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// LogLine is one line a function wrote (or a platform line such as START/END/REPORT), tagged
// with the function and the request it belongs to. RequestID is empty for init output.
type LogLine struct {
	Time      time.Time
	Function  string
	RequestID string
	Text      string
}

// LogTo returns a log sink that writes each line as a log/slog record (message: the line;
// attributes: function, requestId) timed when the line was captured.
func LogTo(logger *slog.Logger) func(LogLine) {
	return func(l LogLine) {
		r := slog.NewRecord(l.Time, slog.LevelInfo, l.Text, 0)
		r.AddAttrs(slog.String("function", l.Function), slog.String("requestId", l.RequestID))
		_ = logger.Handler().Handle(context.Background(), r)
	}
}

// Recorder is a log sink (Options.LogSink = r.Add) that keeps every line, for a caller that
// reads them while functions run. The zero value is ready to use.
type Recorder struct {
	mu    sync.Mutex
	lines []LogLine
}

// Add keeps l.
func (r *Recorder) Add(l LogLine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, l)
}

// ForRequest returns the text of the lines of one request ("": init output), in order.
func (r *Recorder) ForRequest(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.lines {
		if l.RequestID == id {
			out = append(out, l.Text)
		}
	}
	return out
}

// String is every line kept, one a line: function, request id, text.
func (r *Recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, l := range r.lines {
		fmt.Fprintf(&b, "%s %s %s\n", l.Function, l.RequestID, l.Text)
	}
	return b.String()
}

// tail keeps the newest lines of one invocation within a byte bound.
type tail struct {
	max   int
	size  int
	lines []string
}

func (t *tail) add(line string) {
	t.lines = append(t.lines, line)
	t.size += len(line) + 1
	for t.size > t.max && len(t.lines) > 1 {
		t.size -= len(t.lines[0]) + 1
		t.lines = t.lines[1:]
	}
}

// redactor hides secret values from every captured line.
type redactor []string

func (r redactor) apply(s string) string {
	for _, secret := range r {
		s = strings.ReplaceAll(s, secret, "****")
	}
	return s
}

// flushMarker is written by the host into the function's own log pipe. Because a pipe is FIFO,
// once the reader meets the marker every byte the process wrote before it (for instance before
// posting its response) has been read and attributed to the right request.
const flushMarker = "\x1elambdahost-flush\x1e\n"

// logPipe carries a process's stdout and stderr (one pipe, as Lambda merges both) to emit.
type logPipe struct {
	r, w    *os.File
	flushed chan struct{}
	done    chan struct{}
}

func newLogPipe() (*logPipe, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create log pipe: %w", err)
	}
	return &logPipe{r: r, w: w, flushed: make(chan struct{}, 1), done: make(chan struct{})}, nil
}

// read emits each line until the host closes its write end and the process has exited.
func (p *logPipe) read(emit func(string)) {
	defer close(p.done)
	br := bufio.NewReaderSize(p.r, 64*1024)
	for {
		line, err := br.ReadString('\n')
		if i := strings.Index(line, flushMarker); i >= 0 {
			if partial := line[:i]; partial != "" {
				emit(partial)
			}
			p.flushed <- struct{}{}
		} else if line != "" {
			emit(strings.TrimRight(line, "\r\n"))
		}
		if err != nil {
			return
		}
	}
}

// flush returns once every line written to the pipe before the call has been emitted.
func (p *logPipe) flush() {
	if _, err := p.w.Write([]byte(flushMarker)); err != nil {
		return
	}
	select {
	case <-p.flushed:
	case <-p.done:
	}
}

// close ends the reader after it drained what the (dead) process wrote.
func (p *logPipe) close() {
	_ = p.w.Close()
	<-p.done
	_ = p.r.Close()
}

// logTail renders the last max bytes of lines, as Lambda's LogResult does.
func logTail(lines []string, max int) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	out := b.Bytes()
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return out
}
