package cmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
)

func init() {
	register(&command{name: "media", args: "upload FILE | list",
		summary: "upload an image, voice, video or thumb and print its media_id (temporary: 3 days; --permanent: material), or list permanent material",
		run:     runMedia})
}

// mediaFlags are the settings of `wxbot media`.
type mediaFlags struct {
	api         apiFlags
	typ         string
	permanent   bool
	title, desc string
	offset      int
	count       int
	loc         *time.Location // --timezone
}

// mediaTypeByExt guesses --type from the file name.
var mediaTypeByExt = map[string]string{
	".png": wechat.MediaImage, ".jpg": wechat.MediaImage, ".jpeg": wechat.MediaImage, ".gif": wechat.MediaImage, ".bmp": wechat.MediaImage,
	".amr": wechat.MediaVoice, ".mp3": wechat.MediaVoice, ".wma": wechat.MediaVoice, ".wav": wechat.MediaVoice,
	".mp4": wechat.MediaVideo,
}

func runMedia(ctx context.Context, env *cmdEnv, args []string) error {
	var f mediaFlags
	fs := newFlagSet(env, commands["media"])
	f.api.register(fs)
	fs.StringVar(&f.typ, "type", "", "upload: image, voice, video or thumb (default: from the file's extension; a thumb must be named); list: image, voice, video or news (default image)")
	fs.BoolVar(&f.permanent, "permanent", false, "upload: add permanent material (/cgi-bin/material/add_material) instead of temporary media valid for 3 days (/cgi-bin/media/upload)")
	fs.StringVar(&f.title, "title", "", "upload --permanent --type video: the video's title (required)")
	fs.StringVar(&f.desc, "description", "", "upload --permanent --type video: the video's introduction")
	fs.IntVar(&f.offset, "offset", 0, "list: start at this item (0 is the newest)")
	fs.IntVar(&f.count, "count", wechat.MaterialListMax, fmt.Sprintf("list: how many items, 1-%d", wechat.MaterialListMax))
	zone := fs.String("timezone", "Asia/Shanghai", "the time zone times are printed in (serve's --timezone)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if f.loc, err = loadLocation(*zone); err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("media needs a subcommand: upload FILE or list")
	}
	switch sub, rest := pos[0], pos[1:]; sub {
	case "upload":
		if len(rest) != 1 {
			return usagef("usage: wxbot media upload FILE [--type image|voice|video|thumb] [--permanent] [--title T --description D]")
		}
		return runMediaUpload(ctx, env, &f, rest[0])
	case "list":
		if len(rest) != 0 {
			return usagef("media list takes no arguments, got %q", rest)
		}
		return runMediaList(ctx, env, &f)
	default:
		return usagef("unknown subcommand %q (known: upload, list)", sub)
	}
}

func runMediaUpload(ctx context.Context, env *cmdEnv, f *mediaFlags, file string) error {
	typ := f.typ
	if typ == "" {
		typ = mediaTypeByExt[strings.ToLower(filepath.Ext(file))]
		if typ == "" {
			return usagef("cannot tell the type of %s from its extension: give --type image, voice, video or thumb", file)
		}
	}
	if _, ok := wechat.MediaLimits[typ]; !ok {
		return usagef("--type %q: want one of %s", typ, strings.Join(wechat.MediaTypes, ", "))
	}
	if (f.title != "" || f.desc != "") && !(f.permanent && typ == wechat.MediaVideo) {
		return usagef("--title and --description are for --permanent --type video only")
	}
	if f.permanent && typ == wechat.MediaVideo && strings.TrimSpace(f.title) == "" {
		return usagef("a permanent video needs --title (and --description): WeChat shows them with the video")
	}
	// Type and size are checked before reading the file, the content before
	// calling the API.
	st, err := os.Stat(file)
	if err != nil {
		return fmt.Errorf("media upload: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("media upload: %s is not a regular file", file)
	}
	if err := wechat.CheckMedia(typ, filepath.Base(file), st.Size(), f.permanent); err != nil {
		return usagef("%v", err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("media upload: %w", err)
	}
	if err := wechat.CheckMediaContent(typ, filepath.Base(file), data[:min(len(data), wechat.MediaSniffLen)], f.permanent); err != nil {
		return usagef("%v", err)
	}
	c, err := f.api.client(nil)
	if err != nil {
		return err
	}
	name := filepath.Base(file)
	if !f.permanent {
		up, err := c.UploadMedia(ctx, typ, name, data)
		if err != nil {
			return fmt.Errorf("uploading %s: %w", file, err)
		}
		fmt.Fprintln(env.stdout, up.MediaID)
		created := time.Now()
		if up.CreatedAt > 0 {
			created = time.Unix(up.CreatedAt, 0)
		}
		fmt.Fprintf(env.stderr, "uploaded %s as temporary %s media; the media_id expires %s (3 days): use --permanent for material that stays\n",
			file, typ, zonedTime(created.Add(72*time.Hour), f.loc))
		return nil
	}
	var desc *wechat.VideoDescription
	if typ == wechat.MediaVideo {
		desc = &wechat.VideoDescription{Title: f.title, Introduction: f.desc}
	}
	m, err := c.AddMaterial(ctx, typ, name, data, desc)
	if err != nil {
		return fmt.Errorf("uploading %s: %w", file, err)
	}
	fmt.Fprintln(env.stdout, m.MediaID)
	msg := fmt.Sprintf("added %s as permanent %s material", file, typ)
	if m.URL != "" {
		msg += " (url " + m.URL + ")"
	}
	fmt.Fprintln(env.stderr, msg)
	return nil
}

func runMediaList(ctx context.Context, env *cmdEnv, f *mediaFlags) error {
	typ := f.typ
	if typ == "" {
		typ = wechat.MediaImage
	}
	if !slices.Contains(wechat.MaterialTypes, typ) {
		return usagef("--type %q: media list takes %s (temporary media cannot be listed)", typ, strings.Join(wechat.MaterialTypes, ", "))
	}
	if f.count < 1 || f.count > wechat.MaterialListMax {
		return usagef("--count %d: want 1-%d", f.count, wechat.MaterialListMax)
	}
	if f.offset < 0 {
		return usagef("--offset %d: want 0 or more", f.offset)
	}
	c, err := f.api.client(nil)
	if err != nil {
		return err
	}
	page, err := c.ListMaterial(ctx, typ, f.offset, f.count)
	if err != nil {
		return fmt.Errorf("listing %s material: %w", typ, err)
	}
	if len(page.Items) == 0 {
		fmt.Fprintf(env.stdout, "no permanent %s material", typ)
		if page.TotalCount > 0 {
			fmt.Fprintf(env.stdout, " from offset %d (%d in all)", f.offset, page.TotalCount)
		}
		fmt.Fprintln(env.stdout)
		return nil
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MEDIA_ID\tUPDATED\tNAME")
	for _, it := range page.Items {
		name := it.Name
		if it.Content != nil && len(it.Content.NewsItem) > 0 {
			name = it.Content.NewsItem[0].Title
		}
		updated := "-"
		if it.UpdateTime > 0 {
			updated = zonedTime(time.Unix(it.UpdateTime, 0), f.loc)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", it.MediaID, updated, name)
	}
	tw.Flush()
	fmt.Fprintf(env.stdout, "%d-%d of %d %s material\n", f.offset+1, f.offset+len(page.Items), page.TotalCount, typ)
	if next := f.offset + len(page.Items); next < page.TotalCount {
		fmt.Fprintf(env.stdout, "more: wxbot media list --type %s --offset %d\n", typ, next)
	}
	return nil
}
