package booking

import "github.com/storeedge/storeedge/proto"

// week is the opening hours of the seven days from today, for the
// catalogue's answer (the phone page shows them).
func (d *Desk) week() []proto.DayHours {
	h := d.cat().Hours
	if h == nil {
		return nil
	}
	loc := d.cat().Location()
	today := DateOf(d.now(), loc)
	out := make([]proto.DayHours, 0, 7)
	for i := range 7 {
		day := today.AddDays(i)
		y, m, dd := day.YMD()
		dh := proto.DayHours{Date: day.String(), Open: []string{}}
		for _, iv := range h.Intervals(y, m, dd) {
			dh.Open = append(dh.Open, iv.Open.In(loc).Format("15:04")+"-"+iv.Close.In(loc).Format("15:04"))
		}
		out = append(out, dh)
	}
	return out
}
