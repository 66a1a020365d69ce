package chat

import (
	"encoding/json"
	"errors"
	"github.com/storeedge/storeedge/broker/svc"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzDecoders feeds every op body decoder the same bytes: none may panic,
// and whatever they accept satisfies the limits the handlers rely on.
func FuzzDecoders(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","v":1,"conversation":"c1","members":["staff-anna","tablet-01"]}`,
		`{"id":"a","v":1,"conversation":"c1","kind":"text","text":"宝宝一直哭怎么办"}`,
		`{"id":"a","v":1,"conversation":"c1","kind":"card","card":{"type":"product","sku":"F-2"}}`,
		`{"id":"a","v":1,"conversation":"c1","after":10,"limit":5}`,
		`{"id":"a","v":1,"conversation":"c1","up_to":3}`,
		`{"id":"a","v":1,"conversation":"c1","seq":1}`,
		`{"id":"a","v":1,"after":"c1","limit":2}`,
		`{"conversation":"c1","kind":"card","card":[1]}`,
		`{"id":"a","v":1,"conversation":"c1","closing":1,"stars":4,"comment":"很好"}`,
		`{"id":"a","v":1,"from":"2026-12-01","to":"2026-12-07","by":"staff"}`,
		`{"text":"\ud800"}`, `{}`, `[]`, `null`, `{"conversation":"x"} {}`,
	} {
		f.Add([]byte(s))
	}
	const maxBody, maxMembers, page = 64, 4, 10
	rs := &Service{o: Options{MaxRatingComment: 8, MaxReportDays: 31}}
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodeOpen(b, maxMembers); err == nil {
			if r.Conversation != "" && !idPattern.MatchString(r.Conversation) {
				t.Fatalf("open accepted conversation %q", r.Conversation)
			}
			if len(r.Members) > maxMembers {
				t.Fatalf("open accepted %d members", len(r.Members))
			}
			for _, m := range r.Members {
				if !idPattern.MatchString(m) {
					t.Fatalf("open accepted member %q", m)
				}
			}
		}
		if r, bd, err := decodeSend(b, maxBody); err == nil {
			if !idPattern.MatchString(r.Conversation) {
				t.Fatalf("send accepted conversation %q", r.Conversation)
			}
			switch r.Kind {
			case KindText:
				if bd.Text == "" || len(bd.Text) > maxBody || !utf8.ValidString(bd.Text) || bd.Card != nil {
					t.Fatalf("send accepted text body %+v", bd)
				}
			case KindCard:
				var obj map[string]any
				if len(bd.Card) > maxBody || json.Unmarshal(bd.Card, &obj) != nil || obj == nil || bd.Text != "" {
					t.Fatalf("send accepted card %q", bd.Card)
				}
			case KindImage, KindVoice, KindVideo, KindFile:
				if bd.Media == nil || !hashPattern.MatchString(bd.Media.Hash) || bd.Card != nil || len(bd.Text) > maxBody || !utf8.ValidString(bd.Text) {
					t.Fatalf("send accepted media body %+v", bd)
				}
			default:
				t.Fatalf("send accepted kind %q", r.Kind)
			}
		} else if errors.Is(err, svc.ErrTooLarge) && len(b) <= maxBody {
			t.Fatalf("too_large for a %d-byte request", len(b))
		}
		if r, err := decodeHistory(b, page); err == nil && (r.Limit < 1 || r.Limit > page || !idPattern.MatchString(r.Conversation)) {
			t.Fatalf("history accepted %+v", r)
		}
		if r, err := decodeRead(b); err == nil && (r.UpTo == nil || !idPattern.MatchString(r.Conversation)) {
			t.Fatalf("read accepted %+v", r)
		}
		if r, err := decodeRecall(b); err == nil && (r.Seq == 0 || !idPattern.MatchString(r.Conversation)) {
			t.Fatalf("recall accepted %+v", r)
		}
		if r, err := decodeList(b, page); err == nil && (r.Limit < 1 || r.Limit > page || (r.After != "" && !idPattern.MatchString(r.After))) {
			t.Fatalf("list accepted %+v", r)
		}
		if r, err := rs.decodeRate(b); err == nil && (r.Closing == 0 || r.Stars < 1 || r.Stars > 5 ||
			utf8.RuneCountInString(r.Comment) > rs.o.MaxRatingComment || !utf8.ValidString(r.Comment) || !idPattern.MatchString(r.Conversation)) {
			t.Fatalf("rate accepted %+v", r)
		}
		if r, from, end, err := rs.decodeReport(b, time.UTC); err == nil && (!end.After(from) || end.Sub(from) > time.Duration(rs.o.MaxReportDays)*24*time.Hour ||
			(r.By != "day" && r.By != "staff")) {
			t.Fatalf("report accepted %+v", r)
		}
	})
}
