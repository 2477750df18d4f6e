package wechat

import (
	"bytes"
	"mime/multipart"
)

// writeMultipart writes one file field and returns the content type.
func writeMultipart(buf *bytes.Buffer, field, filename string, data []byte) (string, error) {
	w := multipart.NewWriter(buf)
	fw, err := w.CreateFormFile(field, filename)
	if err != nil {
		return "", err
	}
	if _, err := fw.Write(data); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	return w.FormDataContentType(), nil
}
