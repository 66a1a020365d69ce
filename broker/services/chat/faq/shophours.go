package faq

import (
	"fmt"
	"strings"
	"time"

	"github.com/storeedge/storeedge/internal/hours"
)

// HoursSource supplies the store's opening hours as they are now: the
// booking desk's catalogue, which admins edit live, closures included.
type HoursSource interface {
	Hours() *hours.Hours
}

// IntentOpeningHours is the intent whose answer, once UseHours is called,
// is written from the hours instead of faq.yaml's text.
const IntentOpeningHours = "opening_hours"

// closuresAhead is how far ahead the hours answer lists closures.
const closuresAhead = 60 * 24 * time.Hour

type hoursSource struct {
	src HoursSource
	now func() time.Time
}

// UseHours makes src the one place the hours come from: Hours, the
// after-hours reply and the opening_hours answer (which lists the weekly
// hours and the closures of the next 60 days as of now) follow it from
// then on. faq.yaml's hours stay as the fallback while src has none. now
// nil is time.Now.
func (a *Assistant) UseHours(src HoursSource, now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	a.src.Store(&hoursSource{src: src, now: now})
}

// sourced returns the hours of the source, if one is set and has hours.
func (a *Assistant) sourced() (*hours.Hours, func() time.Time) {
	s := a.src.Load()
	if s == nil {
		return nil, nil
	}
	h := s.src.Hours()
	if h == nil {
		return nil, nil
	}
	return h, s.now
}

var (
	enDays = [7]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	zhDays = [7]string{"周一", "周二", "周三", "周四", "周五", "周六", "周日"}
)

// hoursAnswer writes the opening_hours answer from h in lang.
func hoursAnswer(h *hours.Hours, now time.Time, lang string) string {
	c := h.Config()
	week := [7][]string{c.Weekly.Mon, c.Weekly.Tue, c.Weekly.Wed, c.Weekly.Thu, c.Weekly.Fri, c.Weekly.Sat, c.Weekly.Sun}
	days, sep, to := enDays, ", ", "–"
	if lang == LangZH {
		days, sep, to = zhDays, "，", "至"
	}
	var parts []string
	for i := 0; i < 7; {
		j := i
		for j+1 < 7 && strings.Join(week[j+1], ",") == strings.Join(week[i], ",") {
			j++
		}
		name := days[i]
		if j > i {
			name = days[i] + to + days[j]
		}
		spans := "closed"
		if lang == LangZH {
			spans = "休息"
		}
		if len(week[i]) > 0 {
			var ss []string
			for _, s := range week[i] {
				ss = append(ss, strings.Replace(strings.TrimPrefix(s, "0"), "-", "–", 1))
			}
			spans = strings.Join(ss, ", ")
		}
		parts = append(parts, name+" "+spans)
		i = j + 1
	}
	var closed []string
	today := now.In(h.Location()).Format(time.DateOnly)
	horizon := now.Add(closuresAhead).In(h.Location()).Format(time.DateOnly)
	for _, cl := range c.Closed {
		until := cl.Until
		if until == "" {
			until = cl.Date
		}
		if until < today || cl.Date > horizon {
			continue
		}
		when := dateText(cl.Date, lang)
		if cl.Until != "" && cl.Until != cl.Date {
			when += "–" + dateText(cl.Until, lang)
		}
		if name := strings.TrimSpace(cl.Name); name != "" {
			if lang == LangZH {
				when += "（" + name + "）"
			} else {
				when += " (" + name + ")"
			}
		}
		closed = append(closed, when)
	}
	if lang == LangZH {
		out := "我们的营业时间：\n" + strings.Join(parts, sep) + "。"
		if len(closed) > 0 {
			out += "\n近期休息：" + strings.Join(closed, "，") + "。"
		}
		return out + "\n非营业时间给我们留言，店员开门后会第一时间回复。"
	}
	out := "Our opening hours:\n" + strings.Join(parts, sep) + "."
	if len(closed) > 0 {
		out += "\nClosed: " + strings.Join(closed, ", ") + "."
	}
	return out + "\nLeave us a message outside opening hours and staff will reply as soon as we open."
}

// dateText renders YYYY-MM-DD as "10月1日" or "1 Oct".
func dateText(s, lang string) string {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return s
	}
	if lang == LangZH {
		return fmt.Sprintf("%d月%d日", t.Month(), t.Day())
	}
	return t.Format("2 Jan")
}
