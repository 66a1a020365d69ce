// Package chatreport adds up the closings of conversations into the
// figures of a chat report (proto.ChatReport): conversations handled,
// first response and resolution times, ratings, by day or by staff
// member. The store (svc/chat/report) and HQ (its reports API) share it,
// so the same closings give the same figures in both places.
package chatreport

import (
	"slices"
	"sort"
	"time"

	"github.com/storeedge/storeedge/proto"
)

// Closing is one closing as the report counts it: Stars 0 when not rated.
type Closing struct {
	Staff         string
	Opened        *time.Time
	FirstResponse *time.Time
	Closed        time.Time
	Stars         int
}

// Day is the closing's day in loc (YYYY-MM-DD).
func (c Closing) Day(loc *time.Location) string { return c.Closed.In(loc).Format(time.DateOnly) }

// Rows groups closings by key (a day or a staff member) and returns the
// rows in key order and the total of all.
func Rows(cs []Closing, key func(Closing) string) (rows []proto.ChatReportRow, total proto.ChatReportRow) {
	groups := map[string][]Closing{}
	for _, c := range cs {
		k := key(c)
		groups[k] = append(groups[k], c)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rows = make([]proto.ChatReportRow, 0, len(keys))
	for _, k := range keys {
		rows = append(rows, row(k, groups[k]))
	}
	return rows, row("", cs)
}

func row(key string, cs []Closing) proto.ChatReportRow {
	r := proto.ChatReportRow{Key: key, Handled: len(cs)}
	var resp, res []int64
	stars := 0
	for _, c := range cs {
		if c.Opened != nil {
			res = append(res, c.Closed.Sub(*c.Opened).Milliseconds())
			if c.FirstResponse != nil {
				resp = append(resp, c.FirstResponse.Sub(*c.Opened).Milliseconds())
			}
		}
		if c.Stars >= 1 && c.Stars <= 5 {
			r.Ratings++
			r.Stars[c.Stars-1]++
			stars += c.Stars
		}
	}
	r.Responded, r.FirstResponseAvgMs, r.FirstResponseMedianMs = figures(resp)
	r.Resolved, r.ResolutionAvgMs, r.ResolutionMedianMs = figures(res)
	if r.Ratings > 0 {
		r.StarsAvg = float64(int(float64(stars)/float64(r.Ratings)*100+0.5)) / 100
	}
	return r
}

// figures are a list's count, average and median (the lower middle of an
// even count), 0 for none.
func figures(v []int64) (n int, avg, median int64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	slices.Sort(v)
	var sum int64
	for _, x := range v {
		sum += x
	}
	return len(v), sum / int64(len(v)), v[(len(v)-1)/2]
}
