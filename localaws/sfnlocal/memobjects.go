package sfnlocal

import (
	"context"
	"fmt"
	"sync"
)

// MemoryObjects is an ObjectStore held in memory: a Distributed Map's ItemReader and
// ResultWriter without an S3 endpoint. It remembers the calls made of it, in order, so that a
// test can say who read or wrote which object.
type MemoryObjects struct {
	mu      sync.Mutex
	objects map[string][]byte
	calls   []ObjectCall
}

// ObjectCall is one call made of a MemoryObjects: its S3 action, GetObject or PutObject.
type ObjectCall struct{ Action, Bucket, Key string }

// NewMemoryObjects returns an empty MemoryObjects.
func NewMemoryObjects() *MemoryObjects { return &MemoryObjects{objects: map[string][]byte{}} }

// GetObject returns a copy of the object's body, or S3's NoSuchKey when there is none.
func (m *MemoryObjects) GetObject(_ context.Context, bucket, key string) ([]byte, error) {
	m.mu.Lock()
	m.calls = append(m.calls, ObjectCall{"GetObject", bucket, key})
	m.mu.Unlock()
	b, ok := m.Get(bucket, key)
	if !ok {
		return nil, fmt.Errorf("NoSuchKey: s3://%s/%s", bucket, key)
	}
	return b, nil
}

// PutObject stores a copy of body, replacing any object of that name.
func (m *MemoryObjects) PutObject(_ context.Context, bucket, key string, body []byte) error {
	m.mu.Lock()
	m.calls = append(m.calls, ObjectCall{"PutObject", bucket, key})
	m.mu.Unlock()
	m.Put(bucket, key, body)
	return nil
}

// Put stores a copy of body as PutObject does, without recording a call: a test's own set-up.
func (m *MemoryObjects) Put(bucket, key string, body []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[bucket+"/"+key] = append([]byte(nil), body...)
}

// Get returns a copy of the object's body, and whether there is one, without recording a call:
// a test's own look at what the code under test wrote.
func (m *MemoryObjects) Get(bucket, key string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[bucket+"/"+key]
	return append([]byte(nil), b...), ok
}

// Calls returns the calls made so far, in order.
func (m *MemoryObjects) Calls() []ObjectCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]ObjectCall(nil), m.calls...)
}
