package reliability_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// The environment of a worker process (TestHelperDistributeWorker).
const (
	envWorkerDSN   = "CREDITLEDGER_WORKER_DSN"   // the database; unset: the helper test returns at once
	envWorkerNow   = "CREDITLEDGER_WORKER_NOW"   // the ledger's fixed clock, RFC 3339
	envWorkerChunk = "CREDITLEDGER_WORKER_CHUNK" // DistributeOpts.ChunkSize
	envWorkerWait  = "CREDITLEDGER_WORKER_WAIT"  // "1": wait for a line on stdin before distributing
)

// workerMaxConns caps a worker's PostgreSQL pool (Migrate needs two).
const workerMaxConns = 4

// TestHelperDistributeWorker is not a test: it is the body of the worker
// processes that the crash and concurrency tests start by re-executing
// the test binary. It opens the store at $CREDITLEDGER_WORKER_DSN, makes a
// ledger whose clock is fixed at $CREDITLEDGER_WORKER_NOW, prints READY,
// optionally waits for a line on stdin, runs Distribute with
// $CREDITLEDGER_WORKER_CHUNK accounts per chunk, and prints its
// DistributeResult as "RESULT <json>". Without the environment it returns
// at once.
func TestHelperDistributeWorker(t *testing.T) {
	dsn := os.Getenv(envWorkerDSN)
	if dsn == "" {
		return
	}
	now, err := time.Parse(time.RFC3339Nano, os.Getenv(envWorkerNow))
	if err != nil {
		t.Fatalf("worker: %s: %v", envWorkerNow, err)
	}
	chunk, err := strconv.Atoi(os.Getenv(envWorkerChunk))
	if err != nil {
		t.Fatalf("worker: %s: %v", envWorkerChunk, err)
	}
	ctx := context.Background()
	s, err := bunstore.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("worker: %v", err)
	}
	defer s.Close()
	s.DB().SetMaxOpenConns(workerMaxConns)
	l, err := ledger.New(s, &ledger.Config{Catalog: catalog(), Now: fixed(now)})
	if err != nil {
		t.Fatalf("worker: %v", err)
	}
	fmt.Fprintln(os.Stdout, "READY")
	if os.Getenv(envWorkerWait) == "1" {
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			t.Fatalf("worker: waiting for the start signal: %v", err)
		}
	}
	res, err := l.Distribute(ctx, &ledger.DistributeOpts{ChunkSize: chunk})
	if err != nil {
		fmt.Fprintf(os.Stdout, "ERROR %v\n", err)
		t.Fatalf("worker: distribute: %v", err)
	}
	out, err := json.Marshal(res)
	if err != nil {
		t.Fatalf("worker: %v", err)
	}
	fmt.Fprintf(os.Stdout, "RESULT %s\n", out)
}

// worker is a running worker process.
type worker struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	ready  chan struct{} // closed when it printed READY
	done   chan struct{} // closed when it exited
	stderr lockedBuffer

	// Set before done is closed.
	result  *ledger.DistributeResult
	lines   []string
	waitErr error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startWorker starts a worker process on dsn (which should carry an
// application_name, so that the test can find its backends).
func startWorker(t testing.TB, dsn string, now time.Time, chunk int, waitForGo bool) *worker {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDistributeWorker$", "-test.count=1", "-test.timeout=5m")
	wait := "0"
	if waitForGo {
		wait = "1"
	}
	cmd.Env = append(os.Environ(),
		envWorkerDSN+"="+dsn,
		envWorkerNow+"="+now.Format(time.RFC3339Nano),
		envWorkerChunk+"="+strconv.Itoa(chunk),
		envWorkerWait+"="+wait,
	)
	w := &worker{cmd: cmd, ready: make(chan struct{}), done: make(chan struct{})}
	cmd.Stderr = &w.stderr
	var err error
	w.stdin, err = cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		readyClosed := false
		for sc.Scan() {
			line := sc.Text()
			w.lines = append(w.lines, line)
			switch {
			case line == "READY" && !readyClosed:
				close(w.ready)
				readyClosed = true
			case strings.HasPrefix(line, "RESULT "):
				var res ledger.DistributeResult
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "RESULT ")), &res); err == nil {
					w.result = &res
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		w.waitErr = cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-w.done:
		default:
			_ = cmd.Process.Kill()
			<-w.done
		}
	})
	return w
}

// awaitReady waits until the worker printed READY; it fails the test if
// the worker exited first or took over a minute.
func (w *worker) awaitReady(t testing.TB) {
	t.Helper()
	select {
	case <-w.ready:
	case <-w.done:
		t.Fatalf("worker exited before READY: %v\nstdout: %q\nstderr: %s", w.waitErr, w.lines, w.stderr.String())
	case <-time.After(time.Minute):
		t.Fatalf("worker not READY after a minute\nstderr: %s", w.stderr.String())
	}
}

// start sends the start signal to a worker started with waitForGo.
func (w *worker) start(t testing.TB) {
	t.Helper()
	_, err := io.WriteString(w.stdin, "go\n")
	require.NoError(t, err)
}

// kill sends SIGKILL and waits for the process to end. It reports whether
// the signal ended the process (false: it had exited by itself).
func (w *worker) kill(t testing.TB) bool {
	t.Helper()
	_ = w.cmd.Process.Signal(syscall.SIGKILL)
	w.awaitExit(t)
	ws, ok := w.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func (w *worker) awaitExit(t testing.TB) {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(runDeadline):
		_ = w.cmd.Process.Kill()
		<-w.done
		t.Fatalf("worker still running after %s\nstderr: %s", runDeadline, w.stderr.String())
	}
}

// finish waits for a worker that runs to completion and returns its
// result, failing the test unless it exited cleanly with one.
func (w *worker) finish(t testing.TB) *ledger.DistributeResult {
	t.Helper()
	w.awaitExit(t)
	if w.waitErr != nil || w.result == nil {
		t.Fatalf("worker failed: %v\nstdout: %q\nstderr: %s", w.waitErr, w.lines, w.stderr.String())
	}
	return w.result
}
