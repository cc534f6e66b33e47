package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The console's sessions. The admin enters the admin token once in the
// login form; the server answers with a session cookie (HttpOnly,
// SameSite=Strict, Secure when served over TLS) and every form that
// writes carries a per-session CSRF token. The JSON API does not look at
// the cookie: it keeps the Bearer header.
//
// Sessions are stateless: the cookie is "ID.EXPIRY.MAC", where MAC is an
// HMAC-SHA256 of the rest under a key made up at start. A restart signs
// everyone out; logging out clears the cookie in the browser (a copy of
// the cookie taken before stays valid until it expires, as with any
// bearer credential).

const (
	// sessionCookie names the console's session cookie.
	sessionCookie = "creditledger_console"
	// sessionTTL is how long a session lasts after the login.
	sessionTTL = 12 * time.Hour
	// csrfField names the form field carrying the CSRF token.
	csrfField = "csrf"
)

// sessions issues and checks session cookies and CSRF tokens.
type sessions struct {
	key [32]byte
	now func() time.Time
}

func newSessions() *sessions {
	s := &sessions{now: time.Now}
	_, _ = rand.Read(s.key[:]) // crypto/rand.Read never fails (Go 1.24+)
	return s
}

func (s *sessions) mac(purpose, v string) []byte {
	m := hmac.New(sha256.New, s.key[:])
	m.Write([]byte(purpose + "|" + v))
	return m.Sum(nil)
}

// issue returns a new session's cookie.
func (s *sessions) issue(r *http.Request) *http.Cookie {
	exp := s.now().Add(sessionTTL)
	payload := randomString(18) + "." + strconv.FormatInt(exp.Unix(), 10)
	value := payload + "." + base64.RawURLEncoding.EncodeToString(s.mac("session", payload))
	return &http.Cookie{
		Name: sessionCookie, Value: value, Path: "/",
		Expires: exp, MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	}
}

// cleared returns a cookie that removes the session cookie.
func (s *sessions) cleared(r *http.Request) *http.Cookie {
	return &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	}
}

// session returns the ID of r's session, and false when r has no valid,
// unexpired session cookie.
func (s *sessions) session(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	i := strings.LastIndexByte(c.Value, '.')
	if i < 0 {
		return "", false
	}
	payload, sig := c.Value[:i], c.Value[i+1:]
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac("session", payload)) {
		return "", false
	}
	id, expText, ok := strings.Cut(payload, ".")
	if !ok {
		return "", false
	}
	exp, err := strconv.ParseInt(expText, 10, 64)
	if err != nil || !s.now().Before(time.Unix(exp, 0)) {
		return "", false
	}
	return id, true
}

// csrf returns the CSRF token of session id: the forms of its pages carry
// it, and checkCSRF wants it back.
func (s *sessions) csrf(id string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("csrf", id))
}

// checkCSRF reports whether the form of r carries session id's CSRF token
// (compared in constant time).
func (s *sessions) checkCSRF(r *http.Request, id string) bool {
	got := r.PostFormValue(csrfField)
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf(id))) == 1
}
