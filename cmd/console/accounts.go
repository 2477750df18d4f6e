package console

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// paged wraps an account's page: the session's, then the account's of the
// path (/a/NAME/...), or the one account's. A user sees only the accounts
// the users file lists for them.
func (s *Server) paged(h func(*scope, http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request, se *session) {
		name := r.PathValue("account")
		if s.cfg.Accounts == nil {
			if name != "" {
				http.NotFound(w, r)
				return
			}
			if !mayEdit(se, DefaultAccount) {
				http.Error(w, s.t("acct.noDefault", se.user, DefaultAccount), http.StatusForbidden)
				return
			}
			h(s.single(), w, r, se)
			return
		}
		if name == "" {
			s.toFirstAccount(w, r, se)
			return
		}
		a, ok := s.find(name)
		switch {
		case !ok || !mayEdit(se, name):
			// the same answer for an account that is not there and one that
			// is not the user's: the list is the operator's to tell
			http.Error(w, s.t("acct.notYours", name, se.user, strings.Join(s.allowedOr(se), ", ")), http.StatusNotFound)
		default:
			h(&scope{Server: s, a: s.acct(a, "/a/"+name)}, w, r, se)
		}
	})
}

// single is the scope of the one account of a Config without Accounts.
func (s *Server) single() *scope {
	a := Account{Name: DefaultAccount, Rules: s.cfg.Rules, Engine: s.cfg.Engine, Reloader: s.cfg.Reloader, Outbox: s.cfg.Outbox, Menu: s.cfg.Menu, Media: s.cfg.Media}
	return &scope{Server: s, a: s.acct(a, "")}
}

// toFirstAccount sends a page without an account to the same page of the
// user's first account.
func (s *Server) toFirstAccount(w http.ResponseWriter, r *http.Request, se *session) {
	names := s.allowed(se)
	if len(names) == 0 {
		http.Error(w, s.t("acct.noneHere", se.user), http.StatusForbidden)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		// a form of an old page: which account it meant is not known
		http.Error(w, s.t("acct.choose"), http.StatusNotFound)
		return
	}
	http.Redirect(w, r, "/a/"+names[0]+r.URL.Path, http.StatusSeeOther)
}

func mayEdit(se *session, name string) bool {
	return se.accounts == nil || slices.Contains(se.accounts, name)
}

// find is the running account named name.
func (s *Server) find(name string) (Account, bool) {
	for _, a := range s.cfg.Accounts() {
		if a.Name == name {
			return a, true
		}
	}
	return Account{}, false
}

// allowed are the names of the running accounts the user may edit, sorted.
func (s *Server) allowed(se *session) []string {
	var names []string
	for _, a := range s.cfg.Accounts() {
		if mayEdit(se, a.Name) {
			names = append(names, a.Name)
		}
	}
	slices.Sort(names)
	return names
}

func (s *Server) allowedOr(se *session) []string {
	if names := s.allowed(se); len(names) > 0 {
		return names
	}
	return []string{s.t("acct.noneList")}
}

// acct is a's working view: where its files are, whether they can be
// edited, its publish state.
func (s *Server) acct(a Account, base string) *acct {
	s.pubMu.Lock()
	pub := s.pubs[a.Name]
	if pub == nil {
		pub = &pubState{}
		s.pubs[a.Name] = pub
	}
	s.pubMu.Unlock()
	out := &acct{Account: a, base: base, dir: a.Rules, pub: pub}
	if st, err := os.Stat(a.Rules); err != nil || !st.IsDir() {
		out.dir = filepath.Dir(a.Rules)
		what := s.t("acct.rulesFlag", a.Rules)
		if base != "" {
			what = s.t("acct.rulesOf", a.Name, a.Rules)
		}
		out.editable = s.t("acct.isFile", what, ConsoleFile)
	}
	return out
}
