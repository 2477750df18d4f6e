package wechat

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// KfRecord is one line of the kefu chat records, as
// /customservice/msgrecord/getmsglist returns it.
type KfRecord struct {
	OpenID string `json:"openid"`
	// OperCode says what happened: KfOperKefuSent, KfOperKefuReceived, or
	// another operation WeChat records.
	OperCode int    `json:"opercode"`
	Text     string `json:"text"`
	Time     int64  `json:"time"` // Unix seconds
	Worker   string `json:"worker"`
}

// Values of KfRecord.OperCode.
const (
	KfOperKefuSent     = 2002 // the kefu sent Text to the user
	KfOperKefuReceived = 2003 // the kefu received Text from the user
)

// Limits of getmsglist.
const (
	// KfRecordsPageMax is the most records one call returns.
	KfRecordsPageMax = 10000
	// KfRecordsWindow is the longest time range one call may ask for;
	// WeChat answers 65417 to a longer one.
	KfRecordsWindow = 24 * time.Hour
	// kfRecordsMinWindow is as far as a window is halved when WeChat
	// answers 65417 even to a day.
	kfRecordsMinWindow = time.Hour
	// kfRecordsMaxPages bounds the pages of one window, so that a server
	// that always answers a full page cannot keep the caller forever.
	kfRecordsMaxPages = 1000
)

// KfRecordsQuery selects chat records.
type KfRecordsQuery struct {
	// Start and End bound the records' times, both included, to the
	// second.
	Start, End time.Time
	// PageSize is how many records a call asks for: 1 to
	// KfRecordsPageMax (the default, when 0).
	PageSize int
}

// KfRecords calls each with the chat records from q.Start to q.End, a page
// at a time, in time order. A range longer than WeChat takes in one call
// is asked for a day at a time (or less, should WeChat answer 65417 to a
// day), and each day page by page: with the msgid the last page returned,
// until a page comes back short or the msgid stops advancing. An error
// from each stops the walk and is returned.
func (c *Client) KfRecords(ctx context.Context, q KfRecordsQuery, each func([]KfRecord) error) error {
	size := q.PageSize
	if size == 0 {
		size = KfRecordsPageMax
	}
	switch {
	case size < 1 || size > KfRecordsPageMax:
		return fmt.Errorf("kefu records: page size %d: want 1 to %d", size, KfRecordsPageMax)
	case q.End.Before(q.Start):
		return fmt.Errorf("kefu records: the range ends (%s) before it starts (%s)", q.End.Format(time.RFC3339), q.Start.Format(time.RFC3339))
	}
	w := &recordWalk{c: c, each: each, size: size, from: q.Start.Unix(), to: q.End.Unix()}
	return w.run(ctx)
}

// recordWalk is one KfRecords call. Windows meet at a shared second,
// since whether WeChat's endtime is included is not documented: a record
// of that second is passed on once, from the window that saw it first.
type recordWalk struct {
	c        *Client
	each     func([]KfRecord) error
	size     int
	from, to int64 // the range asked for, Unix seconds, both included
	// edge holds the records of the last window's final second, to skip
	// in the next window.
	edge map[KfRecord]int
}

func (w *recordWalk) run(ctx context.Context) error {
	span := int64(KfRecordsWindow / time.Second)
	for start := w.from; ; {
		// One second past the range, filtered out, so that the range's
		// last second is in whichever way WeChat reads endtime.
		end := min(start+span, w.to+1)
		passed, err := w.window(ctx, start, end)
		if code, ok := APICode(err); ok && code == 65417 && !passed && span > int64(kfRecordsMinWindow/time.Second) {
			span /= 2
			w.c.log.Info("kefu records: WeChat refused the time range; asking for shorter ones", "seconds", span)
			continue
		}
		if err != nil {
			return err
		}
		if end > w.to {
			return nil
		}
		start = end
	}
}

// window walks the pages of the records from start to end; passed says
// whether a page was passed on before an error (a window that failed at
// once may be asked for again, shorter).
func (w *recordWalk) window(ctx context.Context, start, end int64) (passed bool, err error) {
	msgID := int64(1)
	edge := map[KfRecord]int{}
	for page := 0; ; page++ {
		if page == kfRecordsMaxPages {
			return true, fmt.Errorf("kefu records from %s: still more after %d pages of %d: ask for a shorter range",
				time.Unix(start, 0).UTC().Format(time.RFC3339), page, w.size)
		}
		body := struct {
			Start  int64 `json:"starttime"`
			End    int64 `json:"endtime"`
			MsgID  int64 `json:"msgid"`
			Number int   `json:"number"`
		}{start, end, msgID, w.size}
		var ans struct {
			List  []KfRecord `json:"recordlist"`
			MsgID int64      `json:"msgid"`
		}
		if err := w.c.Call(ctx, http.MethodPost, pathKfMsgList, nil, body, &ans); err != nil {
			return page > 0, err
		}
		if err := w.pass(ans.List, start, end, edge); err != nil {
			return true, err
		}
		if len(ans.List) < w.size || ans.MsgID <= msgID {
			w.edge = edge
			return true, nil
		}
		msgID = ans.MsgID
	}
}

// pass hands on the records of a page that are in the range and not
// already passed on at the window's first second, and keeps those of its
// last second.
func (w *recordWalk) pass(list []KfRecord, start, end int64, edge map[KfRecord]int) error {
	out := list[:0:0]
	for _, r := range list {
		if r.Time < w.from || r.Time > w.to {
			continue
		}
		if r.Time == start && w.edge[r] > 0 {
			w.edge[r]--
			continue
		}
		if r.Time == end {
			edge[r]++
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil
	}
	return w.each(out)
}
