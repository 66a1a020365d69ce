package booking

import (
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Words that make a message a price question.
var (
	priceWordsZH = []string{"多少钱", "价格", "价钱", "价位", "收费", "费用", "几块", "多少米"}
	priceWordsEN = []string{"price", "prices", "pricing", "how much", "cost", "costs", "fee", "fees", "charge"}
)

// PriceAnswer answers a customer's price question from the catalogue: the
// services her words name (all of them when none is named), each with its
// price and duration, in lang ("zh" or "en"; "" = the message's script).
// named says whether the words named a service. ok is false when text is
// not a price question.
func (d *Desk) PriceAnswer(text, lang string) (answer string, named, ok bool) {
	low := strings.ToLower(text)
	hasHan := strings.IndexFunc(text, func(r rune) bool { return unicode.Is(unicode.Han, r) }) >= 0
	asked := false
	for _, w := range priceWordsZH {
		asked = asked || strings.Contains(text, w)
	}
	for _, w := range priceWordsEN {
		asked = asked || containsWord(low, w)
	}
	if !asked {
		return "", false, false
	}
	if lang != "zh" && lang != "en" {
		lang = "en"
		if hasHan {
			lang = "zh"
		}
	}
	best, picked := 0, []*Service(nil)
	for _, s := range d.cat().Services {
		n := 0
		for _, w := range strings.FieldsFunc(strings.ToLower(s.Name.EN+" "+strings.ReplaceAll(s.ID, "-", " ")), func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r)
		}) {
			if len(w) >= 3 && containsWord(low, w) {
				n++
			}
		}
		zh := []rune(s.Name.ZH)
		for i := 0; i+1 < len(zh); i++ {
			if strings.Contains(text, string(zh[i:i+2])) {
				n++
			}
		}
		switch {
		case n > best:
			best, picked = n, []*Service{s}
		case n == best && n > 0:
			picked = append(picked, s)
		}
	}
	if best == 0 {
		picked = d.cat().Services
	}
	var b strings.Builder
	if lang == "zh" {
		b.WriteString("价格：")
	} else {
		b.WriteString("Our prices:")
	}
	for _, s := range picked {
		name := s.Name.EN
		if lang == "zh" && s.Name.ZH != "" || name == "" {
			name = s.Name.ZH
		}
		mins := int(s.Duration / time.Minute)
		if lang == "zh" {
			fmt.Fprintf(&b, "\n• %s：%s（%d 分钟）", name, formatPrice(s.Price, s.Currency, lang), mins)
		} else {
			fmt.Fprintf(&b, "\n• %s: %s (%d min)", name, formatPrice(s.Price, s.Currency, lang), mins)
		}
	}
	if lang == "zh" {
		b.WriteString("\n可在“预约”页直接预约。")
	} else {
		b.WriteString("\nYou can book on the Book tab.")
	}
	return b.String(), best > 0, true
}

// containsWord reports whether w occurs in s as a whole word (s lower case).
func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		before := j == 0 || !isWordByte(s[j-1])
		after := j+len(w) == len(s) || !isWordByte(s[j+len(w)])
		if before && after {
			return true
		}
		i = j + 1
	}
}

func isWordByte(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// formatPrice shows minor units: ¥88, ¥88.50, free.
func formatPrice(minor int64, currency, lang string) string {
	if minor == 0 {
		if lang == "zh" {
			return "免费"
		}
		return "free"
	}
	amount := fmt.Sprintf("%d", minor/100)
	if minor%100 != 0 {
		amount = fmt.Sprintf("%d.%02d", minor/100, minor%100)
	}
	if currency == "CNY" {
		return "¥" + amount
	}
	return amount + " " + currency
}
