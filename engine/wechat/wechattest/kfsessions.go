package wechattest

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// Paths of the kefu session and chat-record endpoints the fake serves.
const (
	PathKfSessionList = "/customservice/kfsession/getsessionlist"
	PathKfWaitCase    = "/customservice/kfsession/getwaitcase"
	PathKfMsgList     = "/customservice/msgrecord/getmsglist"
)

// KfSession is a session getsessionlist lists.
type KfSession struct {
	OpenID     string `json:"openid"`
	CreateTime int64  `json:"createtime"`
}

// KfWaiting is a user getwaitcase lists.
type KfWaiting struct {
	OpenID     string `json:"openid"`
	LatestTime int64  `json:"latest_time"`
}

// KfRecord is a chat record getmsglist returns.
type KfRecord struct {
	OpenID   string `json:"openid"`
	OperCode int    `json:"opercode"`
	Text     string `json:"text"`
	Time     int64  `json:"time"`
	Worker   string `json:"worker"`
}

// kfState is what the session and record endpoints answer from.
type kfState struct {
	sessions map[string][]KfSession // kf_account → its sessions
	waiting  []KfWaiting
	records  []KfRecord
	window   time.Duration // the longest range getmsglist takes
}

// SetKfSessions sets the sessions getsessionlist lists for account.
func (s *Server) SetKfSessions(account string, sessions ...KfSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kf.sessions[account] = sessions
}

// SetKfWaiting sets the users waiting for a kefu; getwaitcase counts them
// all and lists the 100 who have waited longest, as WeChat does.
func (s *Server) SetKfWaiting(waiting ...KfWaiting) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kf.waiting = waiting
}

// AddKfRecords adds chat records for getmsglist.
func (s *Server) AddKfRecords(records ...KfRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kf.records = append(s.kf.records, records...)
}

// SetKfRecordsWindow sets the longest time range getmsglist takes (a day
// unless set); a longer one answers 65417.
func (s *Server) SetKfRecordsWindow(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kf.window = d
}

// addKfSessions serves the session and record endpoints; New calls it.
func (s *Server) addKfSessions() {
	s.kf = kfState{sessions: map[string][]KfSession{}, window: 24 * time.Hour}
	s.handlers[PathKfSessionList] = s.serveSessionList
	s.handlers[PathKfWaitCase] = s.serveWaitCase
	s.handlers[PathKfMsgList] = s.serveMsgList
}

func (s *Server) serveSessionList(w http.ResponseWriter, r *http.Request) {
	account := r.URL.Query().Get("kf_account")
	if r.Method != http.MethodGet || account == "" {
		errcode(w, 65416)
		return
	}
	s.mu.Lock()
	list := append([]KfSession{}, s.kf.sessions[account]...)
	s.mu.Unlock()
	writeJSON(w, map[string]any{"sessionlist": list})
}

func (s *Server) serveWaitCase(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		errcode(w, 65416)
		return
	}
	s.mu.Lock()
	list := slices.Clone(s.kf.waiting)
	s.mu.Unlock()
	slices.SortStableFunc(list, func(a, b KfWaiting) int { return int(a.LatestTime - b.LatestTime) })
	writeJSON(w, map[string]any{"count": len(list), "waitcaselist": list[:min(len(list), 100)]})
}

// serveMsgList answers a page of the records from starttime to endtime
// (both included): msgid is the 1-based position of the page's first
// record among them, and the answer's msgid the position of the next.
func (s *Server) serveMsgList(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Start  int64 `json:"starttime"`
		End    int64 `json:"endtime"`
		MsgID  int64 `json:"msgid"`
		Number int   `json:"number"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil ||
		req.End < req.Start || req.MsgID < 1 || req.Number < 1 || req.Number > 10000 {
		errcode(w, 65416)
		return
	}
	s.mu.Lock()
	window := s.kf.window
	var in []KfRecord
	for _, rec := range s.kf.records {
		if rec.Time >= req.Start && rec.Time <= req.End {
			in = append(in, rec)
		}
	}
	s.mu.Unlock()
	if time.Duration(req.End-req.Start)*time.Second > window {
		errcode(w, 65417)
		return
	}
	slices.SortStableFunc(in, func(a, b KfRecord) int { return int(a.Time - b.Time) })
	from := min(int(req.MsgID-1), len(in))
	page := in[from:min(from+req.Number, len(in))]
	writeJSON(w, map[string]any{"recordlist": page, "number": len(page), "msgid": int64(from + len(page) + 1)})
}
