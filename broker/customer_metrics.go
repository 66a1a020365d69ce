package broker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/storeedge/storeedge/broker/mqtt/auth/customer"
)

// customerCollector exports what the customer logins count.
type customerCollector struct{ s *customer.Store }

var customerRenewFailed = prometheus.NewDesc("storeedge_customer_login_renew_failed_total",
	"Customer logins accepted whose renewal (another chat.customer_login_ttl from now) could not be written; "+
		"the login keeps its old expiry. Non-zero: look at the database (disk full?).", nil, nil)

func (customerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- customerRenewFailed }

func (c customerCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(customerRenewFailed, prometheus.CounterValue, float64(c.s.RenewFailures()))
}
