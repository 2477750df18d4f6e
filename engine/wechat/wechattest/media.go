package wechattest

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Documented answers of the read-only console endpoints (testdata/README.md
// says where each comes from). The fake answers AutoReplyDoc and
// SelfMenuConsole until a test sets another with Answer.
var (
	//go:embed testdata/autoreply_doc.json
	AutoReplyDoc string
	//go:embed testdata/autoreply_console.json
	AutoReplyConsole string
	//go:embed testdata/selfmenu_console.json
	SelfMenuConsole string
	//go:embed testdata/selfmenu_api.json
	SelfMenuAPI string
)

// Paths of the console and media endpoints the fake serves.
const (
	PathAutoReplyInfo = "/cgi-bin/get_current_autoreply_info"
	PathSelfMenuInfo  = "/cgi-bin/get_current_selfmenu_info"
	PathMediaUpload   = "/cgi-bin/media/upload"
	PathMaterialAdd   = "/cgi-bin/material/add_material"
	PathMaterialBatch = "/cgi-bin/material/batchget_material"
)

// Upload is one file the fake received through media/upload or
// add_material.
type Upload struct {
	Permanent   bool
	Type        string
	Filename    string
	Data        []byte
	Description string // add_material's description field (videos)
	MediaID     string
	Time        time.Time
}

// Uploads returns the files uploaded so far, in order.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Upload(nil), s.uploads...)
}

// addConsoleAndMedia sets the documented answers of the console endpoints
// and serves the media endpoints; New calls it.
func (s *Server) addConsoleAndMedia() {
	s.answers[PathAutoReplyInfo] = AutoReplyDoc
	s.answers[PathSelfMenuInfo] = SelfMenuConsole
	s.handlers[PathMediaUpload] = func(w http.ResponseWriter, r *http.Request) { s.serveUpload(w, r, false) }
	s.handlers[PathMaterialAdd] = func(w http.ResponseWriter, r *http.Request) { s.serveUpload(w, r, true) }
	s.handlers[PathMaterialBatch] = s.serveBatchGet
}

var mediaTypes = map[string]bool{"image": true, "voice": true, "video": true, "thumb": true}

// serveUpload answers as WeChat does: 40004 for a bad type, 41005 without
// the media field, and for a permanent video without a description.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request, permanent bool) {
	typ := r.URL.Query().Get("type")
	if !mediaTypes[typ] {
		errcode(w, 40004)
		return
	}
	if r.Method != http.MethodPost {
		errcode(w, 43002) // require POST
		return
	}
	f, hdr, err := r.FormFile("media")
	if err != nil {
		errcode(w, 41005) // media data missing
		return
	}
	data, _ := io.ReadAll(f)
	f.Close()
	desc := r.FormValue("description")
	if permanent && typ == "video" {
		var d struct {
			Title        string `json:"title"`
			Introduction string `json:"introduction"`
		}
		if json.Unmarshal([]byte(desc), &d) != nil || d.Title == "" {
			errcode(w, 41005)
			return
		}
	}
	s.mu.Lock()
	n := len(s.uploads) + 1
	id := fmt.Sprintf("FAKE_MEDIA_%d_%s", n, typ)
	if permanent {
		id = fmt.Sprintf("FAKE_MATERIAL_%d_%s", n, typ)
	}
	up := Upload{Permanent: permanent, Type: typ, Filename: hdr.Filename, Data: data, Description: desc, MediaID: id, Time: time.Now()}
	s.uploads = append(s.uploads, up)
	s.mu.Unlock()
	switch {
	case !permanent:
		writeJSON(w, map[string]any{"type": typ, "media_id": id, "created_at": up.Time.Unix()})
	case typ == "image":
		writeJSON(w, map[string]any{"media_id": id, "url": "http://mmbiz.qpic.cn/fake/" + id + "/0"})
	default:
		writeJSON(w, map[string]any{"media_id": id})
	}
}

// serveBatchGet lists the permanent uploads of a type, newest first, as
// batchget_material does.
func (s *Server) serveBatchGet(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Type   string `json:"type"`
		Offset int    `json:"offset"`
		Count  int    `json:"count"`
	}
	body, _ := io.ReadAll(r.Body)
	if json.Unmarshal(body, &req) != nil {
		errcode(w, 47001)
		return
	}
	if !mediaTypes[req.Type] && req.Type != "news" || req.Type == "thumb" {
		errcode(w, 40004)
		return
	}
	if req.Count < 1 || req.Count > 20 || req.Offset < 0 {
		errcode(w, 47001) // the fake's choice: WeChat's code for a bad count is not documented
		return
	}
	s.mu.Lock()
	var all []Upload
	for i := len(s.uploads) - 1; i >= 0; i-- {
		if u := s.uploads[i]; u.Permanent && u.Type == req.Type {
			all = append(all, u)
		}
	}
	s.mu.Unlock()
	items := []map[string]any{}
	for i := req.Offset; i < len(all) && len(items) < req.Count; i++ {
		u := all[i]
		it := map[string]any{"media_id": u.MediaID, "name": u.Filename, "update_time": u.Time.Unix()}
		if u.Type == "image" {
			it["url"] = "http://mmbiz.qpic.cn/fake/" + u.MediaID + "/0"
		}
		items = append(items, it)
	}
	writeJSON(w, map[string]any{"total_count": len(all), "item_count": len(items), "item": items})
}
