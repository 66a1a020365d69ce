package proto

import "slices"

// Op is one service op: where its requests go, whether it changes state
// and the Go type of its request body (nil for an op without fields).
// PROTOCOL.md lists the same ops with their "mutating" column.
type Op struct {
	Service string
	Name    string
	// Mutating ops change something: svc keeps their answers for repeats
	// of the same request id, and the device SDK keeps them on disk until
	// they are answered.
	Mutating bool
	// Request is the zero value of the op's request body, nil when the op
	// takes no fields.
	Request any
}

// Topic is the op's request topic.
func (o Op) Topic() string { return RequestTopic(o.Service, o.Name) }

// Ops are every op of every service.
var Ops = []Op{
	{ServiceChat, "open", true, ChatOpenRequest{}},
	{ServiceChat, "send", true, ChatSendRequest{}},
	{ServiceChat, "history", false, ChatHistoryRequest{}},
	{ServiceChat, "read", true, ChatReadRequest{}},
	{ServiceChat, "recall", true, ChatRecallRequest{}},
	{ServiceChat, "list", false, ChatListRequest{}},
	{ServiceChat, "delivered", true, ChatReadRequest{}},
	{ServiceChat, "group_create", true, GroupCreateRequest{}},
	{ServiceChat, "group_add", true, GroupMembersRequest{}},
	{ServiceChat, "group_remove", true, GroupMembersRequest{}},
	{ServiceChat, "handoff", true, ConversationRequest{}},
	{ServiceChat, "waiting", false, nil},
	{ServiceChat, "assign", true, AssignRequest{}},
	{ServiceChat, "quick_replies", false, nil},
	// session and presence_start are not remembered: their answers hold a
	// live token or code.
	{ServiceChat, "session", false, ChatSessionRequest{}},
	{ServiceChat, "presence_start", false, nil},
	{ServiceChat, "presence_get", false, nil},
	{ServiceChat, "presence_end", true, nil},
	{ServiceChat, "presence_confirm", true, PresenceConfirmRequest{}},
	{ServiceChat, "close", true, ConversationRequest{}},
	{ServiceChat, "rate", true, ChatRateRequest{}},
	{ServiceChat, "report", false, ChatReportRequest{}},
	// staff's search, labels and internal notes
	{ServiceChat, "search", false, ChatSearchRequest{}},
	{ServiceChat, "note_add", true, ChatNoteAddRequest{}},
	{ServiceChat, "notes", false, ChatNoteTarget{}},
	{ServiceChat, "labels_set", true, ChatLabelsRequest{}},
	// The desk: transfer to a colleague, group read receipts.
	{ServiceChat, "transfer", true, TransferRequest{}},
	{ServiceChat, "transfer_answer", true, TransferAnswerRequest{}},
	{ServiceChat, "readers", false, ReadersRequest{}},
	{ServiceChat, "transfers", false, nil},

	{ServiceBooking, "services", false, nil},
	{ServiceBooking, "availability", false, AvailabilityRequest{}},
	{ServiceBooking, "book", true, BookRequest{}},
	{ServiceBooking, "reschedule", true, RescheduleRequest{}},
	{ServiceBooking, "cancel", true, BookingRequest{}},
	{ServiceBooking, "no_show", true, BookingRequest{}},
	{ServiceBooking, "check_in", true, BookingRequest{}},
	{ServiceBooking, "progress", true, ProgressRequest{}},
	{ServiceBooking, "complete", true, BookingRequest{}},
	{ServiceBooking, "survey", true, SurveyRequest{}},
	{ServiceBooking, "get", false, BookingRequest{}},
	{ServiceBooking, "list", false, ListBookingsRequest{}},
	{ServiceBooking, "board", false, BoardRequest{}},
	{ServiceBooking, "board_days", false, BoardDaysRequest{}},
	{ServiceBooking, "customers", false, CustomersRequest{}},
	{ServiceBooking, "changes", false, ChangesRequest{}},
	{ServiceBooking, "profile_put", true, ProfilePutRequest{}},
	{ServiceBooking, "profile_list", false, ProfileRequest{}},
	{ServiceBooking, "profile_delete", true, ProfileRequest{}},
	{ServiceBooking, "presence_start", false, nil}, // not remembered: the answer holds a live code
	{ServiceBooking, "presence_get", false, nil},
	{ServiceBooking, "presence_end", true, nil},
	{ServiceBooking, "catalog_get", false, nil},
	{ServiceBooking, "catalog_set", true, CatalogSetRequest{}},
	{ServiceBooking, "closure_add", true, ClosureAddRequest{}},
	{ServiceBooking, "closure_remove", true, ClosureRemoveRequest{}},
	{ServiceBooking, "closure_list", false, nil},

	{ServiceMedia, "begin", true, UploadBeginRequest{}},
	{ServiceMedia, "chunk", true, UploadChunkRequest{}},
	{ServiceMedia, "status", false, UploadRef{}},
	{ServiceMedia, "complete", true, UploadRef{}},
	{ServiceMedia, "stat", false, BlobStatRequest{}},
	{ServiceMedia, "get", false, BlobGetRequest{}},

	{ServiceCamera, "register", false, CameraRegisterRequest{}},
	{ServiceCamera, "unregister", false, nil},
	{ServiceCamera, "watch", false, CameraRequest{}},
	{ServiceCamera, "snapshot", true, CameraRequest{}},

	{ServiceStore, "health", false, nil},
	{ServiceStore, "faq_get", false, nil},
	{ServiceStore, "faq_set", true, StoreFAQSetRequest{}},
	{ServiceStore, "faq_try", false, StoreFAQTryRequest{}},

	{ServiceAdmin, OpAuditList, false, AuditListRequest{}},

	{ServiceNotices, OpNoticesList, false, NoticesListRequest{}},

	// link is not remembered: its answer holds a live code.
	{ServiceHome, "link", false, HomeLinkRequest{}},
	{ServiceHome, "revoke", true, HomeRevokeRequest{}},

	{ServiceCustomer, "card_get", false, CardRequest{}},
	{ServiceCustomer, "card_put", true, CardPutRequest{}},
	{ServiceCustomer, "me_put", true, MePutRequest{}},
	{ServiceCustomer, "names", false, NamesRequest{}},
	{ServiceCustomer, "revoke", true, CardRequest{}},
	{ServiceCustomer, "merge", true, MergeRequest{}},
	{ServiceCustomer, "forget", true, nil},

	{ServiceAccounts, "staff_add", true, StaffAddRequest{}},
	{ServiceAccounts, "staff_list", false, nil},
	{ServiceAccounts, "staff_reset_password", true, PasswordRequest{}},
	{ServiceAccounts, "staff_disable", true, AccountRequest{}},
	{ServiceAccounts, "staff_enable", true, AccountRequest{}},
	{ServiceAccounts, "device_add", false, DeviceAddRequest{}}, // not remembered: the answer holds a live code
	{ServiceAccounts, "device_list", false, nil},
	{ServiceAccounts, "device_update", true, DeviceUpdateRequest{}},
	{ServiceAccounts, "device_rotate", false, AccountRequest{}}, // not remembered: the answer holds a live code
	{ServiceAccounts, "device_revoke", true, AccountRequest{}},
}

// Lookup finds an op.
func Lookup(service, op string) (Op, bool) {
	i := slices.IndexFunc(Ops, func(o Op) bool { return o.Service == service && o.Name == op })
	if i < 0 {
		return Op{}, false
	}
	return Ops[i], true
}

// Mutating reports whether op of service changes state (false for an
// unknown op).
func Mutating(service, op string) bool {
	o, ok := Lookup(service, op)
	return ok && o.Mutating
}

// ServiceOps are the ops of one service, in the order of Ops.
func ServiceOps(service string) []Op {
	var out []Op
	for _, o := range Ops {
		if o.Service == service {
			out = append(out, o)
		}
	}
	return out
}
