package wechat

// Reply types, the MsgType values of a passive reply.
const (
	ReplyText     = "text"
	ReplyImage    = "image"
	ReplyVoice    = "voice"
	ReplyVideo    = "video"
	ReplyMusic    = "music"
	ReplyNews     = "news"
	ReplyTransfer = "transfer_customer_service"
)

// Reply is a passive reply. Type selects which other fields are written:
//
//	text      Content
//	image     MediaID
//	voice     MediaID
//	video     MediaID, Title, Description (both optional)
//	music     Title, Description, MusicURL, HQMusicURL, ThumbMediaID
//	news      Articles (the caller enforces WeChat's count limit)
//	transfer_customer_service  KfAccount (optional: TransInfo is omitted when empty)
type Reply struct {
	Type         string
	Content      string
	MediaID      string
	Title        string
	Description  string
	MusicURL     string
	HQMusicURL   string
	ThumbMediaID string
	Articles     []Article
	KfAccount    string
}

// Article is one item of a news reply.
type Article struct {
	Title       string
	Description string
	PicURL      string
	URL         string
}
