package setup

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/storeedge/storeedge/broker/settings"
)

// FieldError is a setup field that is not valid: its code (bad_request),
// the field's JSON name and what is wanted, in English and Chinese.
type FieldError struct {
	Field string
	EN    string
	ZH    string
}

func (e *FieldError) Error() string { return "setup: " + e.Field + ": " + e.EN }

// Limits of the setup's fields.
const (
	MaxNameRunes     = 60
	MinPasswordBytes = 10 // the default; Options.MinPasswordLength (the accounts' minimum) wins
	MaxPasswordBytes = 72 // bcrypt reads no further
)

// Languages the pages and the FAQ speak.
var Languages = []string{"zh", "en"}

var adminNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,31}$`)

// Validate checks a request's fields (not its code) and trims the store's
// name; the first problem is returned as a *FieldError. minPassword is the
// shortest password the account registry takes (0: MinPasswordBytes).
func Validate(r *Request, minPassword int) error {
	if minPassword <= 0 {
		minPassword = MinPasswordBytes
	}
	r.Name = strings.TrimSpace(r.Name)
	switch {
	case r.Name == "":
		return &FieldError{"name", "Enter the store's name.", "请填写门店名称。"}
	case !utf8.ValidString(r.Name) || utf8.RuneCountInString(r.Name) > MaxNameRunes:
		return &FieldError{"name", fmt.Sprintf("The store's name can be at most %d characters.", MaxNameRunes), fmt.Sprintf("门店名称最多 %d 个字。", MaxNameRunes)}
	case strings.IndexFunc(r.Name, func(c rune) bool { return unicode.IsControl(c) || unicode.Is(unicode.Bidi_Control, c) }) >= 0:
		return &FieldError{"name", "The store's name cannot contain control characters.", "门店名称不能包含控制字符。"}
	}
	if !validZone(r.TimeZone) {
		return &FieldError{"time_zone", "Pick the store's time zone from the list.", "请从列表中选择门店所在时区。"}
	}
	if len(r.Languages) == 0 {
		return &FieldError{"languages", "Pick at least one language.", "请至少选择一种语言。"}
	}
	seen := map[string]bool{}
	for _, l := range r.Languages {
		if !slices.Contains(Languages, l) || seen[l] {
			return &FieldError{"languages", "Languages are zh and en, each at most once.", "语言只能是中文（zh）和英文（en），且不能重复。"}
		}
		seen[l] = true
	}
	if !slices.Contains(settings.Kinds, r.Kind) {
		return &FieldError{"kind", "Pick the kind of shop: pet grooming, mother-and-baby, or both.", "请选择门店类型：宠物洗护、母婴，或两者都有。"}
	}
	switch {
	case !adminNamePattern.MatchString(r.AdminName):
		return &FieldError{"admin_name", "The admin's name: 2 to 32 lower-case letters, digits, '.', '-' or '_', starting with a letter or digit.", "管理员账号：2 到 32 个小写字母、数字、“.”、“-”或“_”，以字母或数字开头。"}
	case strings.HasPrefix(r.AdminName, "cust-") || strings.HasPrefix(r.AdminName, "remote-") || strings.HasPrefix(r.AdminName, "sim-"):
		return &FieldError{"admin_name", "Names starting with cust-, remote- or sim- are reserved.", "以 cust-、remote- 或 sim- 开头的账号名已被保留。"}
	}
	switch {
	case utf8.RuneCountInString(r.AdminPassword) < minPassword:
		return &FieldError{"admin_password", fmt.Sprintf("The password needs at least %d characters.", minPassword), fmt.Sprintf("密码至少 %d 个字符。", minPassword)}
	case len(r.AdminPassword) > MaxPasswordBytes:
		return &FieldError{"admin_password", fmt.Sprintf("The password can be at most %d bytes.", MaxPasswordBytes), fmt.Sprintf("密码最多 %d 个字节。", MaxPasswordBytes)}
	case strings.EqualFold(r.AdminPassword, r.AdminName):
		return &FieldError{"admin_password", "The password cannot be the admin's name.", "密码不能与账号相同。"}
	}
	return nil
}

// validZone accepts IANA zone names the binary knows (it embeds tzdata),
// not "Local" (the box's own setting, which is what this replaces).
func validZone(z string) bool {
	if z == "" || z == "Local" || len(z) > 64 {
		return false
	}
	_, err := time.LoadLocation(z)
	return err == nil
}
