package wechat

// Message is one decoded push: an ordinary message (MsgType text, image, …) or
// an event (MsgType event). Fields absent from the XML stay zero. Strings are
// exactly as sent (trimmed of surrounding white space for numbers only).
type Message struct {
	ToUserName   string // the account's original id gh_…
	FromUserName string // the sender's OpenID
	CreateTime   int64  // Unix seconds
	MsgType      string // text, image, voice, video, shortvideo, location, link, event, or anything else

	// MsgID is MsgId (messages) or MsgID (template and mass-send events), kept
	// as a string because values exceed 2^53.
	MsgID string

	Content      string // text
	BizMsgMenuID string // text: the id of a tapped kefu msgmenu option (<bizmsgmenuid>)

	PicURL       string // image
	MediaID      string // image, voice, video, shortvideo
	Format       string // voice
	Recognition  string // voice
	MediaID16K   string // voice
	ThumbMediaID string // video, shortvideo

	LocationX float64 // location: latitude (Location_X)
	LocationY float64 // location: longitude (Location_Y)
	Scale     int     // location
	Label     string  // location

	Title       string // link
	Description string // link
	URL         string // link (Url)

	Event    string // event name exactly as sent (subscribe, SCAN, CLICK, …)
	EventKey string // as sent: qrscene_ prefix kept here
	Ticket   string // subscribe via QR, SCAN
	MenuID   string // VIEW, view_miniprogram

	Latitude  float64 // LOCATION
	Longitude float64 // LOCATION
	Precision float64 // LOCATION

	ScanType   string // scancode_*: ScanCodeInfo>ScanType
	ScanResult string // scancode_*: ScanCodeInfo>ScanResult

	PicCount   int      // pic_*: SendPicsInfo>Count
	PicMD5Sums []string // pic_*: SendPicsInfo>PicList>item>PicMd5Sum

	SendLocation *SendLocation // location_select: SendLocationInfo

	KfAccount     string // kf_create_session, kf_close_session
	FromKfAccount string // kf_switch_session
	ToKfAccount   string // kf_switch_session
	Status        string // TEMPLATESENDJOBFINISH, MASSSENDJOBFINISH

	// Fields holds every leaf element in document order, named by its path
	// below <xml> joined with "." (Content, ScanCodeInfo.ScanType,
	// SendPicsInfo.PicList.item.PicMd5Sum). It is what rules see as
	// event.raw.
	Fields []Field
}

// SendLocation is the SendLocationInfo of a location_select event.
type SendLocation struct {
	X       float64 // Location_X, latitude
	Y       float64 // Location_Y, longitude
	Scale   int
	Label   string
	Poiname string
}

// Field is one leaf element of a push.
type Field struct {
	Name  string
	Value string
}

// IsEvent reports whether m is an event push (MsgType event, any case).
func (m *Message) IsEvent() bool { return equalFold(m.MsgType, "event") }

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}
