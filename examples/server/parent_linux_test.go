package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
)

// A server built as go run builds it (into a go-build folder) stops when
// its parent is killed: the process that go run would have left behind.
// It builds the server, so it takes a few seconds.
func TestServerExitsWithGoRun(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "go-build123", "b001", "exe", "server")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	// sh plays go run: it starts the server, says its pid, and waits.
	parent := exec.Command("sh", "-c", `"$0" -addr 127.0.0.1:0 -db "$1" -seed 0 & echo "pid $!"; wait`, bin, testdb.SQLitePath(t))
	parent.Env = append(os.Environ(), "CRON_JOBS_USERNAME=u", "CRON_JOBS_PASSWORD=p", "CREDITLEDGER_ADMIN_TOKEN=t")
	stdout, err := parent.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, parent.Start())
	t.Cleanup(func() { _ = parent.Process.Kill(); _ = parent.Wait() })
	lines := bufio.NewScanner(stdout)
	pid := 0
	for lines.Scan() && !strings.HasPrefix(lines.Text(), "listening on ") {
		if p, ok := strings.CutPrefix(lines.Text(), "pid "); ok {
			pid, err = strconv.Atoi(p)
			require.NoError(t, err)
		}
	}
	require.NotZero(t, pid, "the server's pid")
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	require.True(t, running(pid), "the server runs")

	require.NoError(t, parent.Process.Kill()) // SIGKILL: sh cannot pass anything on
	_ = parent.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for running(pid) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	require.False(t, running(pid), "the server outlived its parent")
}

// running reports whether process pid exists and is not a zombie (one
// that exited and that its new parent has not reaped yet).
func running(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses, which may hold
	// spaces.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}
