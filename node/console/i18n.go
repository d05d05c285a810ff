package console

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

//go:embed catalog/*.json
var catalogFS embed.FS

// languages the console speaks, the first being the fallback. Native names
// are shown in the switcher whatever the current language.
var languages = []struct {
	tag    language.Tag
	code   string
	native string
	rtl    bool
}{
	{language.English, "en", "English", false},
	{language.French, "fr", "Français", false},
	{language.Spanish, "es", "Español", false},
	{language.Russian, "ru", "Русский", false},
	{language.Arabic, "ar", "العربية", true},
}

// locale is one language's printer and layout direction.
type locale struct {
	code    string
	tag     language.Tag
	rtl     bool
	printer *message.Printer
	msgs    map[string]string
}

var (
	locales  map[string]*locale
	matcher  language.Matcher
	baseKeys []string // keys of the English catalog, sorted
)

func init() {
	var err error
	if locales, baseKeys, err = loadCatalogs(); err != nil {
		panic(err) // embedded files: a build defect, caught by every test
	}
	tags := make([]language.Tag, 0, len(languages))
	for _, l := range languages {
		tags = append(tags, l.tag)
	}
	matcher = language.NewMatcher(tags)
}

// loadCatalogs reads catalog/<code>.json (flat objects: key -> message in
// golang.org/x/text/message format) into one catalog.
func loadCatalogs() (map[string]*locale, []string, error) {
	b := catalog.NewBuilder(catalog.Fallback(language.English))
	out := map[string]*locale{}
	var keys []string
	for _, l := range languages {
		raw, err := catalogFS.ReadFile(path.Join("catalog", l.code+".json"))
		if err != nil {
			return nil, nil, fmt.Errorf("console: catalog %s: %w", l.code, err)
		}
		var msgs map[string]string
		if err := json.Unmarshal(raw, &msgs); err != nil {
			return nil, nil, fmt.Errorf("console: catalog %s: %w", l.code, err)
		}
		for k, m := range msgs {
			if err := b.SetString(l.tag, k, m); err != nil {
				return nil, nil, fmt.Errorf("console: catalog %s key %s: %w", l.code, k, err)
			}
		}
		if l.code == "en" {
			for k := range msgs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
		}
		out[l.code] = &locale{code: l.code, tag: l.tag, rtl: l.rtl, msgs: msgs}
	}
	for _, lc := range out {
		lc.printer = message.NewPrinter(lc.tag, message.Catalog(b))
	}
	return out, keys, nil
}

// pickLocale chooses the language: ?lang= (the switcher), then the cookie
// it set, then Accept-Language, then English.
func pickLocale(r *http.Request) (lc *locale, fromQuery bool) {
	if q := r.URL.Query().Get("lang"); q != "" {
		if lc, ok := locales[q]; ok {
			return lc, true
		}
	}
	if ck, err := r.Cookie(langCookie); err == nil {
		if lc, ok := locales[ck.Value]; ok {
			return lc, false
		}
	}
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	_, idx, conf := matcher.Match(tags...)
	if conf == language.No {
		idx = 0
	}
	return locales[languages[idx].code], false
}

// T translates key with args (x/text/message verbs).
func (lc *locale) T(key string, args ...any) string {
	return lc.printer.Sprintf(key, args...)
}

// has reports whether the catalog defines key (for optional labels such
// as rule titles or script names).
func (lc *locale) has(key string) bool {
	_, ok := locales["en"].msgs[key]
	return ok
}

// Dir is the layout direction for the html element.
func (lc *locale) Dir() string {
	if lc.rtl {
		return "rtl"
	}
	return "ltr"
}

// partialDate renders YYYY, YYYY-MM or YYYY-MM-DD in the language; anything
// else is returned as it is.
func (lc *locale) partialDate(s string) string {
	parts := strings.Split(s, "-")
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || len(parts) > 3 {
			return s
		}
		nums[i] = n
	}
	year := parts[0]
	switch len(nums) {
	case 1:
		return year
	case 2:
		if nums[1] < 1 || nums[1] > 12 {
			return s
		}
		return lc.T("date.month", lc.T("month."+strconv.Itoa(nums[1])), year)
	default:
		if nums[1] < 1 || nums[1] > 12 || nums[2] < 1 || nums[2] > 31 {
			return s
		}
		return lc.T("date.full", strconv.Itoa(nums[2]), lc.T("month.gen."+strconv.Itoa(nums[1])), year)
	}
}

// dateTime renders an instant in UTC (console.js shows it in the reader's
// time zone with the browser's own locale data).
func (lc *locale) dateTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	u := t.UTC()
	return lc.T("date.time", lc.partialDate(u.Format("2006-01-02")), u.Format("15:04"))
}

// number renders an integer with the language's digit grouping.
func (lc *locale) number(n int64) string { return lc.printer.Sprint(n) }
