package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
)

// Limits of a state-changing request's body. The edit pages' forms carry
// an image besides their fields; every other form is a few fields.
const (
	formMax = 1 << 20
	// editFormMax is an image WeChat takes and room for a long page's
	// fields: a bigger body is refused before it is read.
	editFormMax = 12 << 20
	// formMaxParts is what url.ParseQuery takes of a urlencoded form: a
	// multipart one gets as many fields.
	formMaxParts = 10000
)

// imageMax is the most WeChat takes of an image, as material or media.
var imageMax = wechat.MediaLimits[wechat.MediaImage].MaxBytes

// formFile is a file a form carried.
type formFile struct {
	name     string // as the browser named it, without its directory
	data     []byte // nil when tooLarge
	tooLarge bool   // past imageMax: read past, not kept
}

type (
	editFormKey struct{} // the route is an edit page's form
	filesKey    struct{} // the files of an edit page's form, by field
)

// editForm marks h's route as an edit page's form: its body may carry an
// image, and its files are kept for the page.
func editForm(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h(w, r.WithContext(context.WithValue(r.Context(), editFormKey{}, true)))
	}
}

// readForm reads a state-changing request's form, within its route's
// limit. A multipart form is read here rather than by
// ParseMultipartForm, whose reader stops at 1000 parts (a keywords page
// has a dozen fields a row) and spools files to disk; an edit form's
// files go with the returned request, and any other form's are dropped.
func readForm(w http.ResponseWriter, r *http.Request) (*http.Request, error) {
	edit, _ := r.Context().Value(editFormKey{}).(bool)
	limit := int64(formMax)
	if edit {
		limit = editFormMax
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "multipart/form-data" {
		return r, r.ParseForm()
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return r, err
	}
	values, files := url.Values{}, map[string]formFile{}
	for parts := 0; ; parts++ {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return r, err
		}
		if parts >= formMaxParts {
			return r, fmt.Errorf("more than %d form fields", formMaxParts)
		}
		name := p.FormName()
		switch {
		case name == "":
		case p.FileName() == "": // a field, or a file input left empty
			v, err := io.ReadAll(p)
			if err != nil {
				return r, err
			}
			values.Add(name, string(v))
		case edit:
			f := formFile{name: p.FileName()}
			if f.data, err = io.ReadAll(io.LimitReader(p, imageMax+1)); err != nil {
				return r, err
			}
			if int64(len(f.data)) > imageMax {
				f.data, f.tooLarge = nil, true
			}
			files[name] = f
		}
	}
	r.PostForm = values
	r.Form = url.Values{}
	for k, v := range values {
		r.Form[k] = slices.Clone(v)
	}
	for k, v := range r.URL.Query() {
		r.Form[k] = append(r.Form[k], v...)
	}
	if edit {
		r = r.WithContext(context.WithValue(r.Context(), filesKey{}, files))
	}
	return r, nil
}

// formError answers a form that could not be read: too large (413), or
// cut off or malformed (400). Nothing of it was read, so nothing changed.
func (s *Server) formError(w http.ResponseWriter, err error) {
	if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
		http.Error(w, s.t("form.tooLarge", mbe.Limit>>20, imageMax>>20), http.StatusRequestEntityTooLarge)
		return
	}
	http.Error(w, s.t("form.bad"), http.StatusBadRequest)
}

// takeUploads uploads the images an edit page's form carries as permanent
// material. Each media_id goes into the form, as the media_id field of the
// reply whose file input carried it, before the form is read into the
// draft: so it lands in that reply whatever the page's op then moves. A
// file is taken only for a reply of kind image (the input is hidden for
// the others). The problems say what was refused, with 422, or 502 when
// WeChat failed.
func (s *scope) takeUploads(r *http.Request, d *draft, user string) (problems []string, status int) {
	files, _ := r.Context().Value(filesKey{}).(map[string]formFile)
	if s.a.editable != "" {
		return nil, 0 // a read-only console adds no material either
	}
	fields := make([]string, 0, len(files))
	for k := range files {
		fields = append(fields, k)
	}
	slices.Sort(fields)
	f := r.PostForm
	for _, field := range fields {
		path, ok := strings.CutSuffix(field, ".r.file")
		if !ok || strings.TrimSpace(f.Get(path+".r.kind")) != replyImage {
			continue
		}
		what := formWhat(s.lang, f, d, path)
		if s.a.Media == nil {
			problems, status = append(problems, s.t("p.noUploader", what)), max(status, http.StatusUnprocessableEntity)
			continue
		}
		id, st, problem := s.uploadImage(r.Context(), what, files[field])
		if problem != "" {
			problems, status = append(problems, problem), max(status, st)
			continue
		}
		s.log.Info("console: image uploaded as permanent material", "account", s.a.Name, "user", user, "file", files[field].name, "media_id", id)
		f.Set(path+".r.media", id)
		f.Set(path+".r.upid", id)
		f.Set(path+".r.upname", files[field].name)
	}
	return problems, status
}

// uploadImage checks f as `wxbot media upload --permanent` does, but by
// its bytes alone: a browser's file is named on the marketer's computer (a
// PNG saved as .jpg, a photo without an extension), and WeChat takes the
// format from the name, so it is sent named as what it holds.
func (s *scope) uploadImage(ctx context.Context, what string, f formFile) (id string, status int, problem string) {
	lim := wechat.MediaLimits[wechat.MediaImage]
	switch {
	case f.tooLarge:
		return "", http.StatusUnprocessableEntity, s.t("p.imageBig", what, f.name, imageMax>>20)
	case len(f.data) == 0:
		return "", http.StatusUnprocessableEntity, s.t("p.imageEmpty", what, f.name)
	}
	ext := wechat.SniffMedia(f.data[:min(len(f.data), wechat.MediaSniffLen)])
	if ext == "" || !slices.Contains(slices.Concat(lim.Exts, lim.PermanentExts), ext) {
		return "", http.StatusUnprocessableEntity, s.t("p.imageType", what, f.name)
	}
	name := strings.TrimSuffix(f.name, filepath.Ext(f.name)) + ext
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	added, err := s.a.Media.AddMaterial(ctx, wechat.MediaImage, name, f.data, nil)
	if err != nil {
		s.log.Error("console: uploading an image failed", "account", s.a.Name, "file", name, "err", err)
		status = http.StatusBadGateway
		if errors.Is(err, wechat.ErrInvalidMedia) {
			status = http.StatusUnprocessableEntity
		}
		return "", status, s.t("p.imageFailed", what, f.name, err.Error())
	}
	return added.MediaID, http.StatusOK, ""
}

// formWhat names the reply under path for the marketer: by the button's
// name as the form has it, or as the draft has it when the form has none
// (an operator's menu is shown read-only, and its names are not posted).
func formWhat(l lang, f url.Values, d *draft, path string) string {
	if i, ok := keywordAt(path); ok {
		return l.t("p.keyword", i+1)
	}
	name := strings.TrimSpace(f.Get(path + ".name"))
	if b := buttonAt(&d.Menu, path); name == "" && b != nil {
		name = b.Name
	}
	return l.t("p.button", name)
}
