package wechat

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// refFields is the reference for the scanner behind Decode: the same leaves,
// read with encoding/xml's token stream (Strict, as by default). It applies
// the same document rules (an <xml> root, nothing after it but white space
// and comments, no DOCTYPE, depth and field limits), so that whenever Decode
// accepts a document, refFields must accept it and return the same Fields.
//
// Deliberate differences, all where the scanner is stricter or where
// encoding/xml adds meaning WeChat does not use:
//   - attributes are ignored, so xmlns="…" changes nothing: elements are
//     matched by local name;
//   - the scanner refuses names encoding/xml allows (non-ASCII, ':', '.'),
//     processing instructions other than a leading <?xml version="1.0"?>,
//     no white space before an attribute, &#xD800; (which encoding/xml turns
//     into U+FFFD) and disallowed characters inside comments.
func refFields(body []byte) ([]Field, error) {
	type frame struct {
		name     string
		hasChild bool
		text     strings.Builder
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	var (
		stack  []*frame
		fields []Field
		root   bool
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				if root {
					return nil, errors.New("second root element")
				}
				if t.Name.Local != "xml" {
					return nil, fmt.Errorf("root <%s>", t.Name.Local)
				}
				root = true
			} else {
				stack[len(stack)-1].hasChild = true
			}
			if len(stack) == maxDepth {
				return nil, errors.New("too deep")
			}
			stack = append(stack, &frame{name: t.Name.Local})
		case xml.EndElement:
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if f.hasChild || len(stack) == 0 {
				continue
			}
			var path []string
			for _, p := range stack[1:] {
				path = append(path, p.name)
			}
			path = append(path, f.name)
			fields = append(fields, Field{Name: strings.Join(path, "."), Value: f.text.String()})
			if len(fields) > maxFields {
				return nil, errors.New("too many fields")
			}
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.Trim(t, " \t\r\n")) > 0 {
					return nil, errors.New("text outside the root")
				}
				continue
			}
			stack[len(stack)-1].text.Write(t)
		case xml.ProcInst:
			if root || t.Target != "xml" {
				return nil, fmt.Errorf("processing instruction <?%s", t.Target)
			}
		case xml.Directive:
			return nil, errors.New("directive")
		}
	}
	if !root {
		return nil, errors.New("no root")
	}
	return fields, nil
}

// checkAgainstReference fails t when the scanner accepts body but reads it
// differently from encoding/xml.
func checkAgainstReference(t *testing.T, body []byte) {
	t.Helper()
	got, err := scanFields(nil, string(body))
	if err != nil {
		return
	}
	want, err := refFields(body)
	if err != nil {
		t.Fatalf("scanner accepts %q, encoding/xml does not: %v", body, err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("scanner reads %q as\n%q\nencoding/xml as\n%q", body, got, want)
	}
}

func TestDecodeMatchesReference(t *testing.T) {
	for name, body := range pushFiles(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := refFields(body); err != nil {
				t.Fatalf("encoding/xml: %v", err)
			}
			if _, err := scanFields(nil, string(body)); err != nil {
				t.Fatalf("scanner: %v", err)
			}
			checkAgainstReference(t, body)
		})
	}
}

// refMessage decodes the way the Go SDKs do, with struct tags, as a second
// opinion on the mapping of elements to Message.
type refMessage struct {
	ToUserName, FromUserName string
	CreateTime               int64
	MsgType                  string
	MsgId                    string
	MsgID                    string
	Content                  string
	BizMsgMenuID             string `xml:"bizmsgmenuid"`
	PicUrl, MediaId, Format  string
	Recognition, MediaId16K  string
	ThumbMediaId             string
	LocationX                float64 `xml:"Location_X"`
	LocationY                float64 `xml:"Location_Y"`
	Scale                    int
	Label                    string
	Title, Description, Url  string
	Event, EventKey, Ticket  string
	MenuId                   string
	Latitude                 float64
	Longitude                float64
	Precision                float64
	ScanType                 string   `xml:"ScanCodeInfo>ScanType"`
	ScanResult               string   `xml:"ScanCodeInfo>ScanResult"`
	PicCount                 int      `xml:"SendPicsInfo>Count"`
	PicMD5Sums               []string `xml:"SendPicsInfo>PicList>item>PicMd5Sum"`
	SendLocation             *struct {
		X       float64 `xml:"Location_X"`
		Y       float64 `xml:"Location_Y"`
		Scale   int
		Label   string
		Poiname string
	} `xml:"SendLocationInfo"`
	KfAccount, FromKfAccount, ToKfAccount, Status string
}

func TestDecodeMatchesUnmarshal(t *testing.T) {
	for name, body := range pushFiles(t) {
		t.Run(name, func(t *testing.T) {
			var r refMessage
			if err := xml.Unmarshal(body, &r); err != nil {
				t.Fatal(err)
			}
			want := Message{ToUserName: r.ToUserName, FromUserName: r.FromUserName, CreateTime: r.CreateTime,
				MsgType: r.MsgType, MsgID: strings.TrimSpace(r.MsgId + r.MsgID), Content: r.Content,
				BizMsgMenuID: r.BizMsgMenuID, PicURL: r.PicUrl, MediaID: r.MediaId, Format: r.Format,
				Recognition: r.Recognition, MediaID16K: r.MediaId16K, ThumbMediaID: r.ThumbMediaId,
				LocationX: r.LocationX, LocationY: r.LocationY, Scale: r.Scale, Label: r.Label, Title: r.Title,
				Description: r.Description, URL: r.Url, Event: r.Event, EventKey: r.EventKey, Ticket: r.Ticket,
				MenuID: r.MenuId, Latitude: r.Latitude, Longitude: r.Longitude, Precision: r.Precision,
				ScanType: r.ScanType, ScanResult: r.ScanResult, PicCount: r.PicCount, PicMD5Sums: r.PicMD5Sums,
				KfAccount: r.KfAccount, FromKfAccount: r.FromKfAccount, ToKfAccount: r.ToKfAccount, Status: r.Status}
			if l := r.SendLocation; l != nil {
				want.SendLocation = &SendLocation{X: l.X, Y: l.Y, Scale: l.Scale, Label: l.Label, Poiname: l.Poiname}
			}
			m, err := Decode(body)
			if err != nil {
				t.Fatal(err)
			}
			if !sameStructFields(m, &want) {
				t.Errorf("Decode and xml.Unmarshal differ:\n got %+v\nwant %+v", *m, want)
			}
			if !reflect.DeepEqual(m.SendLocation, want.SendLocation) {
				t.Errorf("SendLocation %+v, xml.Unmarshal %+v", m.SendLocation, want.SendLocation)
			}
		})
	}
}
