package console_test

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/familylinks/flx/node/console"
)

// headerLayout is what headerJS measures of the page's header: whether the
// menu is collapsed, how many rows the visible items take, the pairs of
// visible items that overlap, the visible items outside the viewport, and
// the items the point at their centre does not reach (hidden under another).
type headerLayout struct {
	Collapsed bool     `json:"collapsed"`
	Toggle    bool     `json:"toggle"` // the Menu button is visible
	Expanded  string   `json:"expanded"`
	Links     int      `json:"links"` // visible menu links
	Rows      int      `json:"rows"`
	Overlaps  []string `json:"overlaps"`
	Outside   []string `json:"outside"`
	Covered   []string `json:"covered"`
	ScrollX   bool     `json:"scrollX"` // the page scrolls sideways
	MainBelow bool     `json:"mainBelow"`
}

const headerJS = `(() => {
	const top = document.querySelector('header.top');
	const vis = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; };
	const name = e => (e.textContent || e.value || e.tagName).trim().slice(0, 24);
	const items = [top.querySelector('.brand'), top.querySelector('.menu-toggle'), ...top.querySelectorAll('nav li a'),
		...top.querySelectorAll('.tools select, .tools .who, .tools button[type=submit]')].filter(e => e && vis(e));
	const rs = items.map(e => e.getBoundingClientRect());
	const overlaps = [], outside = [], covered = [];
	for (let i = 0; i < rs.length; i++) {
		for (let j = i + 1; j < rs.length; j++) {
			const a = rs[i], b = rs[j];
			if (Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5) {
				overlaps.push(name(items[i]) + ' / ' + name(items[j]));
			}
		}
		const r = rs[i];
		if (r.left < 0 || r.right > innerWidth + 0.5) outside.push(name(items[i]));
		const at = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
		if (!at || !(items[i] === at || items[i].contains(at))) covered.push(name(items[i]));
	}
	// Rows: items whose vertical extents overlap share a row.
	const rows = [];
	for (const r of rs) {
		const row = rows.find(x => Math.min(x.bottom, r.bottom) - Math.max(x.top, r.top) > 0);
		if (row) { row.top = Math.min(row.top, r.top); row.bottom = Math.max(row.bottom, r.bottom); } else rows.push({top: r.top, bottom: r.bottom});
	}
	const toggle = top.querySelector('.menu-toggle');
	return {collapsed: top.classList.contains('collapsed'), toggle: !!toggle && vis(toggle), expanded: toggle ? toggle.getAttribute('aria-expanded') : '',
		links: [...top.querySelectorAll('nav li a')].filter(vis).length, rows: rows.length, overlaps, outside, covered,
		scrollX: document.documentElement.scrollWidth > innerWidth + 0.5,
		mainBelow: document.querySelector('main h1').getBoundingClientRect().top >= top.getBoundingClientRect().bottom};
})()`

// TestBrowserMenuFitsLaptopAndPhone: the operator's menu (the longest) is
// one row on a 1366-pixel laptop screen, nothing in it overlapping or
// hidden; on a 390-pixel phone it collapses behind a Menu button that
// opens every link in a column, none overlapping, covered or off screen,
// and the page never scrolls sideways. In every language the menu is one
// row or collapsed, never a broken wrap.
func TestBrowserMenuFitsLaptopAndPhone(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	tb := startBrowser(t, e.base)
	tb.signIn(console.RoleOperator)
	measure := func(t *testing.T, w, h int64, path string) headerLayout {
		t.Helper()
		tb.run(chromedp.EmulateViewport(w, h), chromedp.Navigate(tb.base+path), chromedp.WaitReady(chromedp.CSS("body")))
		var l headerLayout
		tb.eval(headerJS, &l)
		return l
	}
	sound := func(t *testing.T, what string, l headerLayout) {
		t.Helper()
		if len(l.Overlaps) > 0 || len(l.Outside) > 0 || len(l.Covered) > 0 || l.ScrollX || !l.MainBelow {
			t.Errorf("%s: overlapping %v, off screen %v, covered %v, sideways scroll %v, title under the header %v",
				what, l.Overlaps, l.Outside, l.Covered, l.ScrollX, !l.MainBelow)
		}
	}

	t.Run("laptop", func(t *testing.T) {
		tb.t = t
		l := measure(t, 1366, 768, "/console/operator/peers")
		if l.Collapsed || l.Toggle || l.Links != 10 || l.Rows != 1 {
			t.Errorf("1366 px: collapsed %v, Menu button %v, %d links, %d rows; want the 10 links and the tools on one row", l.Collapsed, l.Toggle, l.Links, l.Rows)
		}
		sound(t, "1366 px", l)
		tb.shot("menu-1366")
	})

	t.Run("phone", func(t *testing.T) {
		tb.t = t
		l := measure(t, 390, 844, "/console/operator/peers")
		if !l.Collapsed || !l.Toggle || l.Expanded != "false" || l.Links != 0 {
			t.Fatalf("390 px: collapsed %v, Menu button %v (aria-expanded %q), %d links showing; want the links behind the button", l.Collapsed, l.Toggle, l.Expanded, l.Links)
		}
		sound(t, "390 px, closed", l)
		tb.run(chromedp.Click(chromedp.CSS(".menu-toggle")))
		tb.eval(headerJS, &l)
		if l.Expanded != "true" || l.Links != 10 {
			t.Fatalf("390 px, open: aria-expanded %q, %d links; want 10", l.Expanded, l.Links)
		}
		sound(t, "390 px, open", l)
		tb.clickAndLoad(`header nav a[href$="/stats"]`)
		if h1 := tb.text("h1"); h1 != "Activity statistics" {
			t.Errorf("the Statistics link of the open menu led to %q", h1)
		}
	})

	t.Run("every language", func(t *testing.T) {
		tb.t = t
		for _, lang := range []string{"en", "fr", "es", "ru", "ar"} {
			for _, w := range []int64{1366, 390} {
				l := measure(t, w, 800, "/console/operator/peers?lang="+lang)
				t.Logf("%s at %d px: collapsed %v, %d rows", lang, w, l.Collapsed, l.Rows)
				if !l.Collapsed && l.Rows != 1 {
					t.Errorf("%s at %d px: %d rows and not collapsed", lang, w, l.Rows)
				}
				sound(t, fmt.Sprintf("%s at %d px", lang, w), l)
			}
		}
		measure(t, 1280, 900, "/console/operator/peers?lang=en")
	})
}
