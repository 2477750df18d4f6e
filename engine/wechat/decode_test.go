package wechat

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const (
	testGh     = "gh_e136c6e50636"
	testOpenID = "oMgHVjngRipVsoxg6TuX3vz6glDg"
)

// pushWants is what every file in testdata/push decodes to, Fields aside
// (TestDecodeMatchesReference checks those against encoding/xml).
var pushWants = map[string]Message{
	"text": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 1348831860, MsgType: "text",
		Content: "你好，请问营业时间？", MsgID: "24801004976846051"},
	"text_bizmsgmenuid": {ToUserName: "gh_a96a4a619366", FromUserName: "olPjZjsXuQPJoV0HlruZkNzKc91E",
		CreateTime: 1552115230, MsgType: "text", Content: "满意", MsgID: "22220946756594166", BizMsgMenuID: "101"},
	"image": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 1348831860, MsgType: "image",
		PicURL:  "http://mmbiz.qpic.cn/mmbiz_jpg/5Kd1ib5P8FAfTKNgCWcnNcic3CN1hJ7oSbAQ3fWN9j3gPb3qMKq4ibzZVObRTIAzQia5DktPE5Lh1rpAQ4RiaxXbLjg/0",
		MediaID: "Fs4aV3RqCuvK8wWjDmRvsbMCMqgj2YXWJ2EfRvBymV_7oVPxcPOfWwYrl6XNR6f1", MsgID: "6403247895999455936"},
	"voice": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 1357290913, MsgType: "voice",
		MediaID: "kd7F0jRYoSzYcgXeHrBBYgWZ4fpnuBeMLuSB8EKw-vdoDAWWm7dD4Qj4o4HgtNMm", Format: "amr",
		MediaID16K: "kd7F0jRYoSzYcgXeHrBBYi5jz6zNBqU3vWWpZ1IbbGCAk9JN1SRsK5G1l0gxVmvN", Recognition: "腾讯微信团队",
		MsgID: "1234567890123456"},
	"video": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 1357290913, MsgType: "video",
		MediaID: "media_id", ThumbMediaID: "thumb_media_id", MsgID: "1234567890123456"},
	"shortvideo": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 1357290913, MsgType: "shortvideo",
		MediaID: "media_id", ThumbMediaID: "thumb_media_id", MsgID: "1234567890123457"},
	"location": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 1351776360, MsgType: "location",
		LocationX: 23.134521, LocationY: 113.358803, Scale: 20, Label: "位置信息", MsgID: "1234567890123456"},
	"link": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 1351776360, MsgType: "link",
		Title: "公众平台官网链接", Description: "公众平台官网链接",
		URL: "https://mp.weixin.qq.com/s?__biz=MzA3MDM3NjE5NQ==&mid=2650765011&idx=1", MsgID: "1234567890123456"},
	"event_subscribe": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 123456789, MsgType: "event",
		Event: "subscribe"},
	"event_subscribe_qrscene": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 123456789, MsgType: "event",
		Event: "subscribe", EventKey: "qrscene_123123",
		Ticket: "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw=="},
	"event_unsubscribe": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 123456789, MsgType: "event",
		Event: "unsubscribe"},
	"event_SCAN": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 123456789, MsgType: "event",
		Event: "SCAN", EventKey: "SCENE_VALUE", Ticket: "TICKET"},
	"event_LOCATION": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 123456789, MsgType: "event",
		Event: "LOCATION", Latitude: 23.137466, Longitude: 113.352425, Precision: 119.385040},
	"event_CLICK": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 123456789, MsgType: "event",
		Event: "CLICK", EventKey: "V1001_TODAY_MUSIC"},
	"event_VIEW": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 123456789, MsgType: "event",
		Event: "VIEW", EventKey: "http://www.qq.com/", MenuID: "208379533"},
	"event_scancode_push": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 1408090502, MsgType: "event",
		Event: "scancode_push", EventKey: "6", ScanType: "qrcode", ScanResult: "1"},
	"event_scancode_waitmsg": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 1408090606, MsgType: "event",
		Event: "scancode_waitmsg", EventKey: "6", ScanType: "qrcode", ScanResult: "2"},
	"event_pic_sysphoto": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 1408090651, MsgType: "event",
		Event: "pic_sysphoto", EventKey: "6", PicCount: 1, PicMD5Sums: []string{"1b5f7c23b5bf75682a53e7b6d163e185"}},
	"event_pic_photo_or_album": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 1408090816, MsgType: "event",
		Event: "pic_photo_or_album", EventKey: "6", PicCount: 2,
		PicMD5Sums: []string{"5a75aaca956d97be686719218f275c6b", "1b5f7c23b5bf75682a53e7b6d163e185"}},
	"event_pic_weixin": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 1408090816, MsgType: "event",
		Event: "pic_weixin", EventKey: "6", PicCount: 1, PicMD5Sums: []string{"5a75aaca956d97be686719218f275c6b"}},
	"event_location_select": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 1408091189, MsgType: "event",
		Event: "location_select", EventKey: "6",
		SendLocation: &SendLocation{X: 23, Y: 113, Scale: 15, Label: "广州市海珠区客村艺苑路 106号"}},
	"event_view_miniprogram": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 123456789, MsgType: "event",
		Event: "view_miniprogram", EventKey: "pages/index/index", MenuID: "MENUID"},
	"event_TEMPLATESENDJOBFINISH": {ToUserName: "gh_7f083739789a", FromUserName: "oia2TjuEGTNoeX76QEjQNrcURxG8",
		CreateTime: 1395658920, MsgType: "event", Event: "TEMPLATESENDJOBFINISH", MsgID: "200163836", Status: "success"},
	"event_MASSSENDJOBFINISH": {ToUserName: "gh_a96a4a619366", FromUserName: "oR5Gjjl_eiZoUpGozMo7dbBJ362A",
		CreateTime: 1394524295, MsgType: "event", Event: "MASSSENDJOBFINISH", MsgID: "1988", Status: "sendsuccess"},
	"event_kf_create_session": {ToUserName: "touser", FromUserName: "fromuser", CreateTime: 1399197672, MsgType: "event",
		Event: "kf_create_session", KfAccount: "test1@test"},
	"event_kf_close_session": {ToUserName: "touser", FromUserName: "fromuser", CreateTime: 1399197672, MsgType: "event",
		Event: "kf_close_session", KfAccount: "test1@test"},
	"event_kf_switch_session": {ToUserName: "touser", FromUserName: "fromuser", CreateTime: 1399197672, MsgType: "event",
		Event: "kf_switch_session", FromKfAccount: "test1@test", ToKfAccount: "test2@test"},
	"event_user_pay_from_pay_cell": {ToUserName: "gh_e2243xxxxxxx", FromUserName: "oo2VNuOUuZGMxxxxxxxx",
		CreateTime: 1442390947, MsgType: "event", Event: "user_pay_from_pay_cell"},
	"cdata_numbers": {ToUserName: testGh, FromUserName: testOpenID, CreateTime: 1408091189, MsgType: "location",
		LocationX: 23.134521, LocationY: 113.358803, Scale: 20, Label: "位置信息 ", MsgID: "6403247895999455936"},
}

// pushFieldWants spot-checks Fields beyond the struct: unknown elements,
// nested paths, repeats and values exactly as sent.
var pushFieldWants = map[string][]Field{
	"event_scancode_push": {{"EventKey", "6"}, {"ScanCodeInfo.ScanType", "qrcode"}, {"ScanCodeInfo.ScanResult", "1"}},
	"event_pic_photo_or_album": {{"SendPicsInfo.Count", "2"},
		{"SendPicsInfo.PicList.item.PicMd5Sum", "5a75aaca956d97be686719218f275c6b"},
		{"SendPicsInfo.PicList.item.PicMd5Sum", "1b5f7c23b5bf75682a53e7b6d163e185"}},
	"event_location_select": {{"SendLocationInfo.Poiname", ""}},
	"event_MASSSENDJOBFINISH": {{"MsgID", "1988"}, {"TotalCount", "100"}, {"ErrorCount", "5"},
		{"CopyrightCheckResult.Count", "2"},
		{"CopyrightCheckResult.ResultList.item.OriginalArticleUrl", "Url_1"},
		{"CopyrightCheckResult.ResultList.item.OriginalArticleUrl", "Url_2"},
		{"CopyrightCheckResult.CheckState", "2"},
		{"ArticleUrlResult.ResultList.item.ArticleUrl", "http://mp.weixin.qq.com/s/sssss"}},
	"event_user_pay_from_pay_cell": {{"CardId", "po2VNuCuRo-8sxxxxxxxxxxx"}, {"LocationId", "291710000"},
		{"Fee", "10000"}, {"OriginalFee", "10000 "}},
	"cdata_numbers":     {{"CreateTime", " 1408091189 "}, {"Location_Y", "\n  113.358803\n"}, {"Scale", " 20 "}},
	"text_bizmsgmenuid": {{"MsgId", "22220946756594166"}, {"bizmsgmenuid", "101"}},
}

func pushFiles(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob("testdata/push/*.xml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata/push files: %v", err)
	}
	files := make(map[string][]byte)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(filepath.Base(p), ".xml")] = b
	}
	return files
}

func TestDecodePushes(t *testing.T) {
	files := pushFiles(t)
	for name := range pushWants {
		if _, ok := files[name]; !ok {
			t.Errorf("testdata/push/%s.xml missing", name)
		}
	}
	for name, body := range files {
		t.Run(name, func(t *testing.T) {
			want, ok := pushWants[name]
			if !ok {
				t.Fatalf("no want for testdata/push/%s.xml: add one to pushWants", name)
			}
			m, err := Decode(body)
			if err != nil {
				t.Fatal(err)
			}
			fields := m.Fields
			got := *m
			got.Fields = nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Decode:\n got %+v\nwant %+v", got, want)
				if got.SendLocation != nil {
					t.Errorf("SendLocation %+v", *got.SendLocation)
				}
			}
			for _, f := range pushFieldWants[name] {
				if !slices.Contains(fields, f) {
					t.Errorf("Fields lack %+v; have %q", f, fields)
				}
			}
			// The header comes first, in document order.
			if len(fields) < 4 || fields[0].Name != "ToUserName" || fields[3].Name != "MsgType" {
				t.Errorf("Fields do not start with the header: %q", fields)
			}
		})
	}
}

func TestDecodeIntoReuses(t *testing.T) {
	files := pushFiles(t)
	var m Message
	if err := DecodeInto(&m, files["event_MASSSENDJOBFINISH"]); err != nil {
		t.Fatal(err)
	}
	long := cap(m.Fields)
	if err := DecodeInto(&m, files["event_CLICK"]); err != nil {
		t.Fatal(err)
	}
	if cap(m.Fields) != long {
		t.Errorf("cap(Fields) = %d, want the %d of the previous decode", cap(m.Fields), long)
	}
	if m.MsgID != "" || m.Status != "" || m.Event != "CLICK" || len(m.Fields) != 6 {
		t.Errorf("state of the previous decode leaked: %+v", m)
	}
	for _, f := range m.Fields[len(m.Fields):cap(m.Fields)] {
		if f != (Field{}) {
			t.Fatalf("stale field %+v kept past len", f)
		}
	}
	if err := DecodeInto(&m, []byte("<xml><FromUserName>x</FromUserName></xml>")); err == nil {
		t.Fatal("no error")
	}
	if m.FromUserName != "" || len(m.Fields) != 0 {
		t.Errorf("a failed decode left %+v", m)
	}
}

func TestDecodeAcceptsXMLFeatures(t *testing.T) {
	const head = `<ToUserName><![CDATA[gh]]></ToUserName><FromUserName>o</FromUserName>` +
		`<CreateTime>1</CreateTime><MsgType>text</MsgType>`
	tests := []struct {
		name, body string
		want       []Field // after the four header fields
	}{
		{"declaration", `<?xml version="1.0" encoding="UTF-8"?>` + "\n<xml>" + head + `<Content>a</Content></xml>`,
			[]Field{{"Content", "a"}}},
		{"declaration single quotes", `<?xml version='1.0' encoding='utf-8' standalone='yes' ?><xml>` + head + `</xml>`, nil},
		{"comments everywhere", "<!-- a --><xml><!-- b -->" + head + "<Content>x<!-- c -->y</Content></xml>\n<!-- d -->\n",
			[]Field{{"Content", "xy"}}},
		{"split CDATA", "<xml>" + head + "<Content><![CDATA[a]]]]><![CDATA[>b]]></Content></xml>",
			[]Field{{"Content", "a]]>b"}}},
		{"CDATA and text", "<xml>" + head + "<Content> <![CDATA[a]]>b&amp;c </Content></xml>",
			[]Field{{"Content", " ab&c "}}},
		{"entities", "<xml>" + head + "<Content>&lt;&gt;&amp;&apos;&quot;&#20320;&#x597D;&#0065;</Content></xml>",
			[]Field{{"Content", `<>&'"你好A`}}},
		{"self-closing and attributes", "<xml a='1'>" + head + `<Content/><Event x = "&lt;>]]>" y='"'/><EventKey></EventKey></xml>`,
			[]Field{{"Content", ""}, {"Event", ""}, {"EventKey", ""}}},
		{"CR LF", "<xml>\r\n" + head + "<Content>a\r\nb\rc&#13;\n<![CDATA[\r\n]]></Content></xml>",
			[]Field{{"Content", "a\nb\nc\r\n\n"}}},
		{"empty CDATA pieces", "<xml>" + head + "<Content><![CDATA[]]>a<![CDATA[]]></Content></xml>",
			[]Field{{"Content", "a"}}},
		{"unknown nested", "<xml>" + head + "<A><B><C>1</C></B><D>2</D></A></xml>",
			[]Field{{"A.B.C", "1"}, {"A.D", "2"}}},
		{"mixed content", "<xml>" + head + "<A>text<B>1</B>more</A></xml>", []Field{{"A.B", "1"}}},
		{"end tag space", "<xml >" + head + "<Content >a</Content\n></xml >", []Field{{"Content", "a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Fields[4:]; len(tt.want) > 0 && !slices.Equal(got, tt.want) {
				t.Errorf("Fields = %q, want %q", got, tt.want)
			}
			ref, err := refFields([]byte(tt.body))
			if err != nil {
				t.Fatalf("encoding/xml rejects what Decode accepts: %v", err)
			}
			if !slices.Equal(ref, m.Fields) {
				t.Errorf("Fields %q, encoding/xml reads %q", m.Fields, ref)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	const head = `<FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>`
	deep := "<xml>" + head + strings.Repeat("<a>", 16) + "x" + strings.Repeat("</a>", 16) + "</xml>"
	deepOK := "<xml>" + head + strings.Repeat("<a>", 15) + "x" + strings.Repeat("</a>", 15) + "</xml>"
	many := "<xml>" + head + strings.Repeat("<a>1</a>", maxFields-2) + "</xml>"
	manyOK := "<xml>" + head + strings.Repeat("<a>1</a>", maxFields-3) + "</xml>"
	tests := []struct{ name, body, want string }{
		{"empty", "", "no <xml> element"},
		{"not XML", "success", "text before <xml>"},
		{"JSON", `{"ToUserName":"gh"}`, "text before <xml>"},
		{"other root", "<message>" + head + "</message>", "root element is <message>"},
		{"DOCTYPE", `<!DOCTYPE xml [<!ENTITY a "b">]><xml>` + head + "</xml>", "DOCTYPE"},
		{"DOCTYPE inside", "<xml><!DOCTYPE x>" + head + "</xml>", "DOCTYPE"},
		{"entity declaration use", "<xml>" + head + "<Content>&a;</Content></xml>", "bad entity"},
		{"mismatched", "<xml>" + head + "<Content>a</Event></xml>", "<Content> closed by </Event>"},
		{"unclosed", "<xml>" + head + "<Content>a", "<Content> not closed"},
		{"unclosed root", "<xml>" + head, "<xml> not closed"},
		{"trailing garbage", "<xml>" + head + "</xml>x", "data after </xml>"},
		{"second root", "<xml>" + head + "</xml><xml></xml>", "data after </xml>"},
		{"too deep", deep, "nested more than 16"},
		{"too many fields", many, "more than 1024 fields"},
		{"unclosed CDATA", "<xml>" + head + "<Content><![CDATA[a</Content></xml>", "unclosed CDATA"},
		{"]]> in text", "<xml>" + head + "<Content>a]]>b</Content></xml>", "]]> outside CDATA"},
		{"bare &", "<xml>" + head + "<Content>a & b</Content></xml>", "bad entity"},
		{"bad char ref", "<xml>" + head + "<Content>&#0;</Content></xml>", "bad entity"},
		{"surrogate ref", "<xml>" + head + "<Content>&#xD800;</Content></xml>", "bad entity"},
		{"uppercase X char ref", "<xml>" + head + "<Content>&#X41;</Content></xml>", "bad entity"},
		{"huge char ref", "<xml>" + head + "<Content>&#99999999999999999999;</Content></xml>", "bad entity"},
		{"control char", "<xml>" + head + "<Content>a\x01b</Content></xml>", "character XML does not allow"},
		{"invalid UTF-8", "<xml>" + head + "<Content>a\xffb</Content></xml>", "invalid UTF-8"},
		{"U+FFFE", "<xml>" + head + "<Content>\uFFFE</Content></xml>", "character XML does not allow"},
		{"processing instruction", "<xml><?php echo 1; ?>" + head + "</xml>", "processing instruction"},
		{"GBK declaration", `<?xml version="1.0" encoding="GBK"?><xml>` + head + "</xml>", "declaration"},
		{"XML 1.1", `<?xml version="1.1"?><xml>` + head + "</xml>", "declaration"},
		{"stylesheet", `<?xml-stylesheet href="a"?><xml>` + head + "</xml>", "declaration"},
		{"comment --", "<xml><!-- a -- b -->" + head + "</xml>", "-- inside a comment"},
		{"unclosed comment", "<xml>" + head + "<!-- a", "unclosed comment"},
		{"unquoted attribute", "<xml a=1>" + head + "</xml>", "unquoted"},
		{"attribute without value", "<xml a>" + head + "</xml>", "without a value"},
		{"< in attribute", `<xml a="<">` + head + "</xml>", "< in the value"},
		{"bad entity in attribute", `<xml a="&x;">` + head + "</xml>", "bad entity"},
		{"namespace prefix", "<xml><w:Content>a</w:Content>" + head + "</xml>", "unexpected"},
		{"dot in name", "<xml><a.b>a</a.b>" + head + "</xml>", "unexpected"},
		{"text before root", "x<xml>" + head + "</xml>", "text before <xml>"},
		{"CDATA outside root", "<![CDATA[x]]><xml>" + head + "</xml>", "DOCTYPE"},
		{"BOM", "\uFEFF<xml>" + head + "</xml>", "text before <xml>"},
		{"missing FromUserName", "<xml><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>", "FromUserName missing"},
		{"empty FromUserName", "<xml><FromUserName><![CDATA[]]></FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>", "FromUserName missing"},
		{"missing MsgType", "<xml><FromUserName>o</FromUserName><CreateTime>1</CreateTime></xml>", "MsgType missing"},
		{"missing CreateTime", "<xml><FromUserName>o</FromUserName><MsgType>text</MsgType></xml>", "CreateTime missing"},
		{"empty CreateTime", "<xml><FromUserName>o</FromUserName><CreateTime> </CreateTime><MsgType>text</MsgType></xml>", "CreateTime missing"},
		{"bad CreateTime", "<xml><FromUserName>o</FromUserName><CreateTime>1.5</CreateTime><MsgType>text</MsgType></xml>", `CreateTime "1.5" is not an integer`},
		{"bad MsgId", "<xml>" + head + "<MsgId>-1</MsgId></xml>", "MsgId"},
		{"bad Location_X", "<xml>" + head + "<Location_X>north</Location_X></xml>", "Location_X"},
		{"NaN Latitude", "<xml>" + head + "<Latitude>NaN</Latitude></xml>", "Latitude"},
		{"bad Scale", "<xml>" + head + "<Scale>99999999999</Scale></xml>", "Scale"},
		{"bad Count", "<xml>" + head + "<SendPicsInfo><Count>x</Count></SendPicsInfo></xml>", "SendPicsInfo.Count"},
		{"bad nested Scale", "<xml>" + head + "<SendLocationInfo><Scale>1e3</Scale></SendLocationInfo></xml>", "SendLocationInfo.Scale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.body))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode = %+v, %v; want ErrMalformed", m, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
	for _, ok := range []string{deepOK, manyOK} {
		if _, err := Decode([]byte(ok)); err != nil {
			t.Errorf("a document just within the limits: %v", err)
		}
	}
}

func TestDecodeErrorOffsets(t *testing.T) {
	_, err := Decode([]byte("<xml>\n<Content>a</Event>\n</xml>"))
	if err == nil || !strings.HasSuffix(err.Error(), "at byte 16") {
		t.Errorf("err = %v, want the offset of </Event> (16)", err)
	}
}

func TestDecodeUnknownTypesAndEvents(t *testing.T) {
	for body, last := range map[string]Field{
		"<xml><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>file</MsgType><FileKey>k</FileKey></xml>": {"FileKey", "k"},
		"<xml><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>PUBLISHJOBFINISH</Event>" +
			"<PublishEventInfo><publish_id>1</publish_id><publish_status>0</publish_status></PublishEventInfo></xml>": {"PublishEventInfo.publish_status", "0"},
	} {
		m, err := Decode([]byte(body))
		if err != nil {
			t.Errorf("%s: %v", body, err)
			continue
		}
		if m.Fields[len(m.Fields)-1] != last {
			t.Errorf("Fields = %q, want them to end with %q", m.Fields, last)
		}
	}
}

func TestEncodeMessageRoundTrip(t *testing.T) {
	for name, body := range pushFiles(t) {
		t.Run(name, func(t *testing.T) {
			m, err := Decode(body)
			if err != nil {
				t.Fatal(err)
			}
			enc := EncodeMessage(m)
			m2, err := Decode(enc)
			if err != nil {
				t.Fatalf("Decode(EncodeMessage): %v\n%s", err, enc)
			}
			if !sameStructFields(m, m2) {
				t.Errorf("round trip changed the message:\n%s\n got %+v\nwant %+v", enc, *m2, *m)
			}
			// Top-level unknown fields survive, as sent.
			for _, f := range m.Fields {
				if !encodedByStruct(f.Name) && !strings.Contains(f.Name, ".") && !slices.Contains(m2.Fields, f) {
					t.Errorf("field %+v lost:\n%s", f, enc)
				}
			}
		})
	}
}

func TestEncodeMessageLayout(t *testing.T) {
	m := &Message{ToUserName: "gh", FromUserName: "o", CreateTime: 1, MsgType: "text", Content: "hi", MsgID: "42",
		Fields: []Field{{"Content", "ignored"}, {"MsgDataId", "7"}, {"Idx", "x y"}, {"A.B", "nested"}, {"bad name", "v"}}}
	want := "<xml>\n<ToUserName><![CDATA[gh]]></ToUserName>\n<FromUserName><![CDATA[o]]></FromUserName>\n" +
		"<CreateTime>1</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hi]]></Content>\n" +
		"<MsgId>42</MsgId>\n<MsgDataId>7</MsgDataId>\n<Idx><![CDATA[x y]]></Idx>\n</xml>"
	if got := string(EncodeMessage(m)); got != want {
		t.Errorf("EncodeMessage:\n%s\nwant\n%s", got, want)
	}
	ev := &Message{ToUserName: "gh", FromUserName: "o", CreateTime: 1, MsgType: "event",
		Event: "TEMPLATESENDJOBFINISH", MsgID: "9", Status: "success"}
	if got := string(EncodeMessage(ev)); !strings.Contains(got, "<MsgID>9</MsgID>\n<Status><![CDATA[success]]></Status>") {
		t.Errorf("template event: %s", got)
	}
}

// sameStructFields compares everything but Fields.
func sameStructFields(a, b *Message) bool {
	x, y := *a, *b
	x.Fields, y.Fields = nil, nil
	if len(x.PicMD5Sums) == 0 && len(y.PicMD5Sums) == 0 {
		x.PicMD5Sums, y.PicMD5Sums = nil, nil
	}
	return reflect.DeepEqual(x, y)
}
