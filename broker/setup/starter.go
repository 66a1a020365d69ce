package setup

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/storeedge/storeedge/broker/settings"
	"github.com/storeedge/storeedge/configs"
)

var (
	zoneLine = regexp.MustCompile(`(?m)^(  time_zone: ).*$`)
	langLine = regexp.MustCompile(`(?m)^(default_lang: ).*$`)
)

// Starter returns the starter catalogue (services.yaml) and FAQ (faq.yaml)
// of a kind of shop, the FAQ's business hours in zone and its default
// language lang.
func Starter(kind, zone, lang string) (services, faq []byte, err error) {
	if !slices.Contains(settings.Kinds, kind) {
		return nil, nil, fmt.Errorf("setup: no starter for kind %q", kind)
	}
	if services, err = configs.Starters.ReadFile("starters/" + kind + "/services.yaml"); err != nil {
		return nil, nil, fmt.Errorf("setup: starter: %w", err)
	}
	if faq, err = configs.Starters.ReadFile("starters/" + kind + "/faq.yaml"); err != nil {
		return nil, nil, fmt.Errorf("setup: starter: %w", err)
	}
	if zone != "" {
		if len(zoneLine.FindAllIndex(faq, -1)) != 1 {
			return nil, nil, fmt.Errorf("setup: starter %s/faq.yaml: want one hours.time_zone line", kind)
		}
		faq = zoneLine.ReplaceAll(faq, []byte("${1}"+zone))
	}
	if lang != "" {
		faq = langLine.ReplaceAll(faq, []byte("${1}"+lang))
	}
	return services, faq, nil
}
