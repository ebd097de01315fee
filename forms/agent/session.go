package agent

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// sessionCookie is the login session cookie. Its value is a random 256-bit
// id; the store keeps only the id's SHA-256.
const sessionCookie = "veil_session"

// session is one logged-in agent. Its id never appears in it: the store
// keys sessions by the id's hash.
type session struct {
	key     [32]byte // SHA-256 of the id
	name    string
	created time.Time

	mu       sync.Mutex
	lastSeen time.Time
}

// sessionStore holds sessions in memory. The idle timeout and lifetime
// are passed in by the caller, so that a reloaded config applies to the
// sessions already open.
type sessionStore struct {
	mu       sync.Mutex
	sessions map[[32]byte]*session
}

// limits are the idle timeout and absolute lifetime of sessions.
type limits struct{ idle, life time.Duration }

func newSessionStore() *sessionStore {
	return &sessionStore{sessions: make(map[[32]byte]*session)}
}

// create starts a session for name and returns its id.
func (st *sessionStore) create(name string, now time.Time, lim limits) (string, *session, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, err
	}
	id := base64.RawURLEncoding.EncodeToString(raw[:])
	s := &session{key: sha256.Sum256([]byte(id)), name: name, created: now, lastSeen: now}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweepLocked(now, lim)
	st.sessions[s.key] = s
	return id, s, nil
}

// lookup returns the live session with id and marks it used at now. An
// idle or expired session is deleted.
func (st *sessionStore) lookup(id string, now time.Time, lim limits) *session {
	if id == "" || len(id) > 128 {
		return nil
	}
	k := sha256.Sum256([]byte(id))
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.sessions[k]
	if s == nil {
		return nil
	}
	if !alive(s, now, lim) {
		delete(st.sessions, k)
		return nil
	}
	s.mu.Lock()
	s.lastSeen = now
	s.mu.Unlock()
	return s
}

func alive(s *session, now time.Time, lim limits) bool {
	s.mu.Lock()
	last := s.lastSeen
	s.mu.Unlock()
	return now.Sub(last) < lim.idle && now.Sub(s.created) < lim.life
}

// sweepLocked deletes every session that is no longer alive.
func (st *sessionStore) sweepLocked(now time.Time, lim limits) {
	for k, s := range st.sessions {
		if !alive(s, now, lim) {
			delete(st.sessions, k)
		}
	}
}

// remove ends the session with key k.
func (st *sessionStore) remove(k [32]byte) {
	st.mu.Lock()
	delete(st.sessions, k)
	st.mu.Unlock()
}

// sessionFrom returns the live session named by r's cookie, or nil.
func (a *Auth) sessionFrom(r *http.Request) *session {
	if s, ok := r.Context().Value(sessionKey).(*session); ok {
		return s
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	return a.sessions.lookup(c.Value, a.now(), a.limits())
}

func (a *Auth) setSessionCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    id,
		Path:     "/veil/",
		MaxAge:   int(a.cfg.SessionLife / time.Second),
		Secure:   a.secure,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
}

func (a *Auth) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    "",
		Path:     "/veil/",
		MaxAge:   -1,
		Secure:   a.secure,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
}

func (a *Auth) limits() limits { return limits{idle: a.cfg.IdleTimeout, life: a.cfg.SessionLife} }
