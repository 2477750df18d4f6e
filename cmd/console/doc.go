// Package console is the marketers' web console of `wxbot serve`
// (--console-listen): the custom menu and the response of each of its
// keys, keyword replies, a phone-like "Try it" chat and the bot's activity,
// as pages rendered on the server from templates embedded in the binary.
//
// # Safety
//
// The console never bypasses what guards an operator's edit. A change is
// written to console.yaml, the console's own file in the rules directory
// (operators' files are never rewritten), only after the whole directory,
// with the change in place, loads and passes every rule's tests
// ([rules.LoadReplacing], [rules.TestsPass]) and every menu key is
// answered; then the running bot reloads it as it would any edit, and only
// once the new rules are live is the menu pushed to WeChat. A refused
// change changes nothing. Each publish starts from the files a marketer
// saw: when another publish came first, the second is refused as a
// conflict rather than silently overwriting it.
//
// # The menu
//
// The menu is menu.yaml in the rules directory. The console edits it only
// when it wrote it (its first line is [MenuHeader]) or when there is none;
// a menu.yaml an operator wrote is shown read-only, and only the responses
// of its keys are edited.
//
// # Images
//
// An image reply's file, chosen on the page, is added to WeChat as
// permanent material (Account.Media) when the form is posted, whatever its
// button, and its media_id goes into the draft: the one thing a draft does
// before it is published, since the media_id is what the rules keep. A
// discarded draft leaves the material in WeChat's library (wxbot media
// list). The file is checked first by its bytes, as `wxbot media upload`
// checks it.
//
// # Language
//
// Every page and message is in Simplified Chinese, or in English with
// Config.Lang "en": the texts are the catalog's (i18n_text.go), keyed
// alike in both languages. The rules loader's diagnostics keep their own
// words after a sentence of the catalog.
//
// # Log-in
//
// Users are `name: bcrypt-hash` lines (read again at each log-in, so an
// added user needs no restart). Sessions live in the store (Config.Sessions,
// the --store), so replicas share them and a restart keeps them; drafts and
// Try it's conversations stay in the process. Every state-changing request
// needs the session's CSRF token; wrong passwords are rate-limited per name
// and per address.
package console
