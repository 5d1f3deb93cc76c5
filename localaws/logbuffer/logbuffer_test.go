package logbuffer_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/keyrotor/keyrotor/localaws/logbuffer"
)

func TestBufferKeepsEveryLineWrittenFromManyGoroutines(t *testing.T) {
	var buf logbuffer.Buffer
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				fmt.Fprintf(&buf, "line %d-%d\n", i, j)
				_ = buf.String() // reads race with writes unless the buffer locks
			}
		}()
	}
	wg.Wait()
	got := buf.String()
	if n := strings.Count(got, "\n"); n != 20*50 {
		t.Fatalf("buffer holds %d lines, want %d", n, 20*50)
	}
	for i := range 20 {
		for j := range 50 {
			if line := fmt.Sprintf("line %d-%d\n", i, j); !strings.Contains(got, line) {
				t.Fatalf("buffer lacks %q", line)
			}
		}
	}
}
