package reliability_test

import (
	"bytes"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// proxy is a TCP proxy on 127.0.0.1 in front of PostgreSQL that a test can
// cut: every connection through it closed, new ones refused, until it is
// restored. It can also hold back the server's answer to a COMMIT, to put
// a client's cancellation between the commit and its acknowledgement.
type proxy struct {
	t      testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup

	// holdCommit, when set, is signalled (and the connection's answers
	// are held back for holdFor) when a client sends COMMIT.
	holdCommit chan struct{}
	holdFor    time.Duration
}

// startProxy starts a proxy to the host of dsn and returns it with dsn
// pointed at it.
func startProxy(t testing.TB, dsn string) (*proxy, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	p := &proxy{t: t, target: u.Host, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.ln, p.addr = ln, ln.Addr().String()
	p.wg.Add(1)
	go p.serve(ln)
	t.Cleanup(func() {
		p.cut()
		p.wg.Wait()
	})
	u.Host = p.addr
	return p, u.String()
}

func (p *proxy) serve(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil { // cut meanwhile
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) handle(client net.Conn) {
	defer p.wg.Done()
	if !p.track(client) {
		return
	}
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil || !p.track(server) {
		_ = client.Close()
		if server != nil {
			_ = server.Close()
		}
		return
	}
	var gate sync.Mutex // held while the server's answers are held back
	done := make(chan struct{}, 2)
	go func() { // client -> server
		buf := make([]byte, 32<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				p.mu.Lock()
				hold, holdFor := p.holdCommit, p.holdFor
				p.mu.Unlock()
				held := hold != nil && isCommit(buf[:n])
				if held {
					// Close the gate before the server can answer.
					gate.Lock()
					go func() {
						time.Sleep(holdFor)
						gate.Unlock()
					}()
				}
				if _, werr := server.Write(buf[:n]); werr != nil {
					break
				}
				if held {
					select {
					case hold <- struct{}{}:
					default:
					}
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}()
	go func() { // server -> client
		buf := make([]byte, 32<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				gate.Lock()
				gate.Unlock()
				if _, werr := client.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}()
	<-done
	_ = client.Close()
	_ = server.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// A COMMIT as pgx sends it: a simple-protocol Query message "commit"
// (database/sql's Tx.Commit), or an extended-protocol Parse of the unnamed
// statement "commit" (the store's pipelined transactions, which send it
// with SendQueryParams).
var (
	commitMsg      = append([]byte{'Q', 0, 0, 0, 11}, "commit\x00"...)
	commitParseMsg = append([]byte{'P', 0, 0, 0, 14, 0}, "commit\x00\x00\x00"...)
)

func isCommit(b []byte) bool {
	return bytes.Contains(b, commitMsg) || bytes.Contains(b, commitParseMsg)
}

// cut closes every connection and refuses new ones until restore.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
}

// restore listens again on the same address.
func (p *proxy) restore() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for range 100 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(p.t, err, "re-listening on %s", p.addr)
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go p.serve(ln)
}

// setHoldCommit makes the proxy signal ch (without blocking) and hold the
// server's answers on that connection for d whenever a client sends
// COMMIT; a nil ch stops it.
func (p *proxy) setHoldCommit(ch chan struct{}, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holdCommit, p.holdFor = ch, d
}
