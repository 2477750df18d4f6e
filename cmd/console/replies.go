package console

import "fmt"

// replyView is the reply editor of one key or keyword (templates/parts.html
// "reply").
type replyView struct {
	P    string // the fields' prefix: b0, b0.s1, k2
	R    Reply
	None bool // "none from the console" may be chosen (a key)
	// Articles are R's, or one empty article, so that choosing news shows
	// the fields of one.
	Articles    []articleView
	MaxArticles int
	CanAdd      bool
	// Upload: an image can be uploaded from the page; NoMedia: not, for
	// want of API credentials (a read-only console has neither).
	Upload, NoMedia bool
	MaxImage        int64
}

// articleView is one article's fields.
type articleView struct {
	F           string // the fields' prefix: b0.r.a1
	Op          string // what the article's ops name: b0.a1
	N           int    // 1, 2, …
	A           Article
	First, Last bool
}

func (s *scope) replyEditor(p string, r Reply, none bool, maxArticles int) *replyView {
	v := &replyView{P: p, R: r, None: none, MaxArticles: maxArticles, MaxImage: imageMax,
		Upload: s.a.Media != nil && s.a.editable == "", NoMedia: s.a.Media == nil && s.a.editable == ""}
	as := r.Articles
	if len(as) == 0 {
		as = []Article{{}}
	}
	for i, a := range as {
		v.Articles = append(v.Articles, articleView{F: fmt.Sprintf("%s.r.a%d", p, i), Op: fmt.Sprintf("%s.a%d", p, i), N: i + 1, A: a,
			First: i == 0, Last: i == len(as)-1})
	}
	v.CanAdd = len(as) < maxArticles
	return v
}
