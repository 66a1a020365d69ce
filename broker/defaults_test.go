package broker_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/broker/accounts"
	"github.com/storeedge/storeedge/broker/audit"
	"github.com/storeedge/storeedge/broker/backup"
	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/mqtt/auth/customer"
	"github.com/storeedge/storeedge/broker/services/booking"
	"github.com/storeedge/storeedge/broker/services/camera"
	"github.com/storeedge/storeedge/broker/services/chat"
	"github.com/storeedge/storeedge/broker/services/customers"
	"github.com/storeedge/storeedge/broker/services/homelink"
	"github.com/storeedge/storeedge/broker/services/media"
	"github.com/storeedge/storeedge/broker/services/notices"
	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/timesync"
)

// The embedded configs/store.yaml is where the defaults are documented; the
// packages the broker configures fill in their own when given zero (tests,
// a program using one package alone). TestDefaultsAgree holds the two
// together: for every key of store.yaml, the value the broker passes from
// the embedded file equals what the package picks by itself for zero, or
// the key is listed below as one without a package default (and why).
// Changing either side alone fails, and so does a new key named nowhere.
func TestDefaultsAgree(t *testing.T) {
	cfg, err := broker.DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	ml := blob.DefaultLimits()
	var co camera.Options // the camera relay's "none" for what it does not default
	same := map[string]struct{ file, pkg any }{
		"services.workers":         {cfg.Services.Workers, svc.DefaultWorkers},
		"services.queue_size":      {cfg.Services.QueueSize, svc.DefaultQueueSize},
		"services.answer_ttl":      {cfg.Services.AnswerTTL, svc.DefaultAnswerTTL},
		"services.handler_timeout": {cfg.Services.HandlerTimeout, svc.DefaultHandlerTimeout},

		"chat.recall_window":       {cfg.Chat.RecallWindow, chat.DefaultRecallWindow},
		"chat.transfer_timeout":    {cfg.Chat.TransferTimeout, chat.DefaultTransferTimeout},
		"chat.max_body_bytes":      {cfg.Chat.MaxBodyBytes, chat.DefaultMaxBodyBytes},
		"chat.page_size":           {cfg.Chat.PageSize, chat.DefaultPageSize},
		"chat.max_members":         {cfg.Chat.MaxMembers, chat.DefaultMaxMembers},
		"chat.max_rating_comment":  {cfg.Chat.MaxRatingComment, chat.DefaultMaxRatingComment},
		"chat.max_report_days":     {cfg.Chat.MaxReportDays, chat.DefaultMaxReportDays},
		"chat.staff_roles":         {cfg.Chat.StaffRoles, chat.DefaultStaffRoles},
		"chat.assigned_only_roles": {cfg.Chat.AssignedOnlyRoles, []string(nil)},
		// chat: session roles default to chat-tablet and the staff roles,
		// resume roles to the staff roles.
		"chat.session_roles":      {cfg.Chat.SessionRoles, append([]string{"chat-tablet"}, chat.DefaultStaffRoles...)},
		"chat.resume_roles":       {cfg.Chat.ResumeRoles, chat.DefaultStaffRoles},
		"chat.customer_role":      {cfg.Chat.CustomerRole, auth.DefaultCustomerRole},
		"chat.token_ttl":          {cfg.Chat.TokenTTL, customer.DefaultTokenTTL},
		"chat.customer_login_ttl": {cfg.Chat.CustomerLoginTTL, customer.DefaultSessionTTL},
		"chat.max_active_tokens":  {cfg.Chat.MaxActiveTokens, customer.DefaultMaxActiveTokens},
		"chat.presence_ttl":       {cfg.Chat.PresenceTTL, customer.DefaultPresenceTTL},
		"chat.search_budget":      {cfg.Chat.SearchBudget, chat.DefaultSearchBudget},
		"chat.search_results":     {cfg.Chat.SearchResults, chat.DefaultSearchResults},
		"chat.max_notes":          {cfg.Chat.MaxNotes, chat.DefaultMaxNotes},

		"customers.max_notes_bytes": {cfg.Customers.MaxNotesBytes, customers.DefaultMaxNotesBytes},
		"customers.max_tags":        {cfg.Customers.MaxTags, customers.DefaultMaxTags},
		"customers.max_names":       {cfg.Customers.MaxNames, customers.DefaultMaxNames},

		"media.allowed_types":               {cfg.Media.AllowedTypes, ml.AllowedTypes},
		"media.max_bytes":                   {cfg.Media.MaxBytes, ml.MaxBytes},
		"media.default_max_bytes":           {cfg.Media.DefaultMaxBytes, ml.DefaultMaxBytes},
		"media.max_total_bytes":             {cfg.Media.MaxTotalBytes, ml.MaxTotalBytes},
		"media.max_uploads_per_device":      {cfg.Media.MaxUploads, ml.MaxUploadsPerOwner},
		"media.chunk_bytes":                 {cfg.Media.ChunkBytes, ml.ChunkBytes},
		"media.upload_ttl":                  {cfg.Media.UploadTTL, blob.DefaultUploadTTL},
		"media.upload_idle_timeout":         {cfg.Media.UploadIdleTimeout, blob.DefaultUploadIdle},
		"media.cleanup_interval":            {cfg.Media.CleanupInterval, media.DefaultCleanupInterval},
		"media.customer_max_uploads":        {cfg.Media.CustomerMaxUploads, ml.CustomerMaxUploads},
		"media.customer_max_reserved_bytes": {cfg.Media.CustomerMaxReservedBytes, ml.CustomerMaxReservedBytes},
		// media: the staff reserve defaults to a quarter of the total.
		"media.staff_reserve_bytes": {cfg.Media.StaffReserveBytes, ml.MaxTotalBytes / 4},

		"booking.tick":            {cfg.Booking.Tick, booking.DefaultTick},
		"booking.max_notes_bytes": {cfg.Booking.MaxNotesBytes, booking.DefaultMaxNotesBytes},
		"booking.max_profiles":    {cfg.Booking.MaxProfiles, booking.DefaultMaxProfiles},
		"booking.changes_kept":    {cfg.Booking.ChangesKept, booking.DefaultChangesKept},
		"booking.survey_late":     {cfg.Booking.SurveyLate, booking.DefaultSurveyLate},
		"booking.alternatives":    {cfg.Booking.Alternatives, booking.DefaultAlternatives},
		"booking.page_size":       {cfg.Booking.PageSize, booking.DefaultPageSize},
		"booking.staff_roles":     {cfg.Booking.StaffRoles, booking.DefaultStaffRoles},
		"booking.desk_roles":      {cfg.Booking.DeskRoles, booking.DefaultDeskRoles},
		"booking.progress_roles":  {cfg.Booking.ProgressRoles, booking.DefaultProgressRoles},
		"booking.feed_roles":      {cfg.Booking.FeedRoles, booking.DefaultFeedRoles},
		"booking.admin_roles":     {cfg.Booking.AdminRoles, booking.DefaultAdminRoles},
		"booking.max_closures":    {cfg.Booking.MaxClosures, booking.DefaultMaxClosures},

		"audit.keep":        {cfg.Audit.Keep, audit.DefaultKeep},
		"audit.roles":       {cfg.Audit.Roles, audit.DefaultRoles},
		"audit.page_size":   {cfg.Audit.PageSize, audit.DefaultPageSize},
		"notices.keep":      {cfg.Notices.Keep, notices.DefaultKeep},
		"notices.max_bytes": {cfg.Notices.MaxBytes, notices.DefaultMaxBytes},
		"notices.roles":     {cfg.Notices.Roles, notices.DefaultRoles},

		"camera.rooms":            {cfg.Camera.Rooms, co.Rooms},
		"camera.staff_roles":      {cfg.Camera.StaffRoles, camera.DefaultStaffRoles},
		"camera.max_viewers":      {cfg.Camera.MaxViewers, camera.DefaultMaxViewers},
		"camera.signal_timeout":   {cfg.Camera.SignalTimeout, camera.DefaultSignalTimeout},
		"camera.linger":           {cfg.Camera.Linger, camera.DefaultLinger},
		"camera.recheck":          {cfg.Camera.Recheck, camera.DefaultRecheck},
		"camera.snapshot_timeout": {cfg.Camera.SnapshotTimeout, camera.DefaultSnapshotTimeout},
		"camera.offline_grace":    {cfg.Camera.OfflineGrace, camera.DefaultOfflineGrace},
		"camera.gather_timeout":   {cfg.Camera.GatherTimeout, camera.DefaultGatherTimeout},
		"camera.ice_servers":      {cfg.Camera.ICEServers, co.ICEServers},
		"camera.udp_ports":        {cfg.Camera.UDPPorts == "", co.UDPPortMin == 0 && co.UDPPortMax == 0}, // any port
		"camera.interfaces":       {cfg.Camera.Interfaces, co.Interfaces},
		"camera.loopback":         {cfg.Camera.Loopback, co.Loopback},

		"accounts.min_password_length":     {cfg.Accounts.MinPasswordLength, accounts.DefaultMinPasswordLength},
		"accounts.pairing_code_ttl":        {cfg.Accounts.PairingCodeTTL, accounts.DefaultPairingTTL},
		"accounts.enroll_per_minute":       {cfg.Accounts.EnrollPerMinute, accounts.DefaultEnrollPerMinute},
		"accounts.enroll_total_per_minute": {cfg.Accounts.EnrollTotalPerMinute, accounts.DefaultEnrollTotalPerMin},
		"accounts.staff_roles":             {cfg.Accounts.StaffRoles, accounts.DefaultStaffRoles},
		"accounts.device_roles":            {cfg.Accounts.DeviceRoles, accounts.DefaultDeviceRoles},

		"auth.anonymous_role":    {cfg.Auth.AnonymousRole, auth.DefaultAnonymousRole},
		"auth.password_workers":  {cfg.Auth.PasswordWorkers, 0}, // one per CPU, both ways
		"auth.login_backoff_max": {cfg.Auth.LoginBackoffMax, auth.DefaultLoginBackoffMax},

		"persistence.max_batch": {cfg.Persistence.MaxBatch, store.DefaultMaxBatch},

		"home.link_ttl":  {cfg.Home.LinkTTL, homelink.DefaultLinkTTL},
		"home.max_links": {cfg.Home.MaxLinks, homelink.DefaultMaxLinks},

		"backup.scrypt_work_factor": {cfg.Backup.ScryptWorkFactor, backup.DefaultWorkFactor},
		"clock.poll_every":          {cfg.Clock.PollEvery, timesync.DefaultInterval},
		"clock.jump_threshold":      {cfg.Clock.JumpThreshold, timesync.DefaultJumpThreshold},
	}
	// Keys the broker alone reads, or whose package takes zero to mean
	// none or off rather than a default; the file's value is the only one.
	brokerOnly := map[string]string{
		"store_id":                          "the store's name",
		"data_dir":                          "where the broker keeps its files",
		"listeners.":                        "the broker's listeners",
		"auth.devices_file":                 "a file the broker reads",
		"auth.acl_file":                     "a file the broker reads",
		"auth.allow_anonymous":              "a switch, off in both",
		"auth.login_backoff_after":          "auth: 0 = no backoff",
		"limits.":                           "mochi's capabilities and auth's caps, 0 = no cap",
		"persistence.max_db_bytes":          "store: 0 = no cap",
		"persistence.min_free_disk_bytes":   "store: 0 = no floor",
		"runtime.":                          "the process's garbage collector",
		"log.":                              "the process's log",
		"services.keys_env":                 "the broker loads the keys",
		"services.keys_file":                "the broker loads the keys",
		"chat.faq_file":                     "a file the broker reads",
		"chat.faq_roles":                    "the broker registers the FAQ ops with them; faqstore has no default",
		"chat.public_url":                   "the box's address; scan-to-chat requires one",
		"chat.customer_session_ttl":         "the older name of customer_login_ttl, read only when a file sets it",
		"chat.customer_messages_per_minute": "the broker builds the limiter; chat: none = no bound",
		"chat.customer_bytes_per_day":       "the broker builds the limiter; chat: none = no bound",
		"chat.labels":                       "the store's own list; chat: none = labels_set refuses all",
		"booking.services_file":             "a file the broker reads",
		"accounts.admin_roles":              "the broker registers the ops with them",
		"accounts.enroll_url":               "the box's address; default from chat.public_url",
		"accounts.console_session_ttl":      "the console page reads it from /client.json",
		"cloud.":                            "cloudsync takes broker.Config.Cloud as its options, with no defaults of its own",
		"setup.":                            "the broker builds the setup's and the counter's limiters; setup: 0 = no bound",
		"backup.dir":                        "the broker's folder beside data_dir",
		"backup.daily_at":                   "the broker schedules the daily backups",
		"backup.keep_days":                  "the broker prunes the daily backups",
		"backup.passphrase_env":             "the broker reads the passphrase",
		"backup.recipient":                  "the broker passes it; backup: none = passphrase only",
		"doctor.":                           "storeedge doctor's thresholds: the doctor package is given them, with no defaults of its own",
	}

	keys := configKeys(reflect.TypeFor[broker.Config](), "")
	named := func(k string) bool {
		if _, ok := same[k]; ok {
			return true
		}
		for p := range brokerOnly {
			if k == p || strings.HasSuffix(p, ".") && strings.HasPrefix(k, p) {
				return true
			}
		}
		return false
	}
	for _, k := range keys {
		if !named(k) {
			t.Errorf("store.yaml key %s: compare it with its package's default here, or list it as one without", k)
		}
	}
	for k := range same {
		if !slices.Contains(keys, k) {
			t.Errorf("%s is not a key of broker.Config", k)
		}
	}
	for p := range brokerOnly {
		if !slices.ContainsFunc(keys, func(k string) bool { return k == p || strings.HasPrefix(k, p) && strings.HasSuffix(p, ".") }) {
			t.Errorf("%s (broker only) names no key of broker.Config", p)
		}
	}
	for k, v := range same {
		// %v: a nil and an empty slice or map read the same, as in the file.
		if f, p := fmt.Sprintf("%T %v", v.file, v.file), fmt.Sprintf("%T %v", v.pkg, v.pkg); f != p {
			t.Errorf("%s: configs/store.yaml has %s, the package's default is %s", k, f, p)
		}
	}
}

// configKeys lists the dotted yaml keys of the leaves of a config struct
// (a map or list is one leaf).
func configKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Time]() {
			keys = append(keys, configKeys(f.Type, prefix+name+".")...)
			continue
		}
		keys = append(keys, prefix+name)
	}
	return keys
}
