// Package configs holds the default configuration files; the binary embeds them
// so that storeedge runs with no files on disk.
package configs

import "embed"

// Store is the default store broker configuration (store.yaml).
//
//go:embed store.yaml
var Store []byte

// Devices is the default device registry (devices.yaml): no devices.
//
//go:embed devices.yaml
var Devices []byte

// ACL is the default topic access control list (acl.yaml).
//
//go:embed acl.yaml
var ACL []byte

// FAQ is the default FAQ assistant, business hours and quick replies (faq.yaml).
//
//go:embed faq.yaml
var FAQ []byte

// Services is the default bookable services, resources, opening hours,
// reminders and progress stages (services.yaml).
//
//go:embed services.yaml
var Services []byte

// Cloud is the default topic map of what goes up to HQ (cloudsync).
//
//go:embed cloud.yaml
var Cloud []byte

// Starters are the starter catalogues and FAQs by kind of shop:
// starters/{pet,baby,both}/services.yaml and faq.yaml. The first-run setup
// installs the pair of the kind the owner picks; the embedded defaults
// (services.yaml, faq.yaml) are the "both" pair.
//
//go:embed starters
var Starters embed.FS

// HQ is the default configuration of storeedge-hq, HQ's side (hq.yaml).
//
//go:embed hq.yaml
var HQ []byte
