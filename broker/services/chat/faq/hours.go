package faq

import (
	"errors"
	"fmt"
	"strings"

	"github.com/storeedge/storeedge/internal/hours"
)

// hoursConfig is the hours: section of faq.yaml: the store's business hours
// (internal/hours, inline so the keys stay where they always were) and the
// texts the assistant sends while the store is closed.
type hoursConfig struct {
	hours.Config  `yaml:",inline"`
	AfterHours    Text `yaml:"after_hours"`
	ReopenUnknown Text `yaml:"reopen_unknown"`
}

// newHours builds the business hours and checks the texts that go with
// them, reporting every problem at once.
func newHours(c hoursConfig) (*hours.Hours, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	h, err := hours.New(c.Config, "hours")
	if err != nil {
		errs = append(errs, err)
	}
	if !strings.Contains(c.AfterHours.ZH, "{when}") || !strings.Contains(c.AfterHours.EN, "{when}") {
		bad("hours.after_hours: zh and en must both contain {when}")
	}
	needBoth("hours.reopen_unknown", c.ReopenUnknown, bad)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return h, nil
}
